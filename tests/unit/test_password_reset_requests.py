"""A password reset request does the same work whether or not the email has an account:
the same SQL statements, the same answer; the mail is the worker's business (issue 21)."""
import re
from dataclasses import replace

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from services.identity.app import SPEC
from shared.config import Settings
from shared.service import ServiceRuntime

OPERATOR = ("ops@example.org", "operator-secret-1")


@pytest.fixture
def service(tmp_path):
    settings = replace(Settings.from_env({"PP_DATA_DIR": str(tmp_path)}),
                       bootstrap_operator_email=OPERATOR[0],
                       bootstrap_operator_password=OPERATOR[1])
    rt = ServiceRuntime(SPEC, settings)
    rt.start()
    yield rt, rt.create_app().test_client()
    rt.engine.dispose()


def ask(rt, client, email):
    """The reset request's answer and the SQL statements it ran (parameters aside)."""
    statements = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(re.sub(r"\s+", " ", statement))
    event.listen(rt.engine, "before_cursor_execute", seen)
    try:
        response = client.post("/api/v1/auth/password-reset", json={"email": email})
    finally:
        event.remove(rt.engine, "before_cursor_execute", seen)
    headers = {k: v for k, v in response.headers if k != "X-Request-Id"}
    return (response.status_code, response.get_data(), headers), statements


def outbox_resets(rt) -> int:
    with rt.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM outbox WHERE event_type = "
                                    "'PasswordResetRequested'")).scalar_one()


def test_a_known_and_an_unknown_email_run_the_same_statements(service):
    rt, client = service
    ask(rt, client, "warm-up@example.org")  # first-use work (caches) out of the way
    known_answer, known = ask(rt, client, OPERATOR[0])
    unknown_answer, unknown = ask(rt, client, "nobody@example.org")
    assert known and known == unknown
    assert known_answer == unknown_answer and known_answer[0] == 202
    # A capped account too: the sixth request in an hour looks like every other.
    for _ in range(6):
        capped_answer, capped = ask(rt, client, OPERATOR[0])
    assert capped == unknown and capped_answer == unknown_answer


def test_the_worker_mails_the_account_holder_only_and_within_the_cap(service):
    rt, client = service
    identity = rt.context.use_cases.identity
    for email in ("nobody@example.org", OPERATOR[0].upper(), "another@example.org"):
        assert client.post("/api/v1/auth/password-reset", json={"email": email}
                           ).status_code == 202
    assert outbox_resets(rt) == 0  # nothing decided while answering
    with rt.context.sessions() as session, session.begin():
        assert identity.handle_reset_requests(session) == 3
    assert outbox_resets(rt) == 1
    for _ in range(8):
        client.post("/api/v1/auth/password-reset", json={"email": OPERATOR[0]})
    with rt.context.sessions() as session, session.begin():
        assert identity.handle_reset_requests(session) == 8
        assert identity.handle_reset_requests(session) == 0  # handled once
    assert outbox_resets(rt) == 5  # the hourly cap
    with rt.engine.connect() as conn:  # nothing of the request kept once handled
        assert conn.execute(sa.text("SELECT count(*) FROM reset_requests")).scalar_one() == 0
