"""No secret rests in plain text (issue 21): invitation and reset tokens travel once, to
notifications, and once the mails are sent no cell of any table of identity's or
notifications' database holds one, whatever PP_OUTBOX_RETENTION_SECONDS (an hour here, as
by default), nor does a log line or a dead letter. Real PostgreSQL and RabbitMQ."""
from __future__ import annotations

import email
import json
import logging
import uuid

import pytest
import sqlalchemy as sa

from tests.support import publish_events, wait_for
from tests.system import RealSystem

pytestmark = pytest.mark.integration

PASSWORD = "an-admin-password-1"


def every_cell(engine) -> list[tuple[str, str, str]]:
    """(table, column, text) of every non-empty cell of every table of the database."""
    out = []
    with engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            result = conn.execute(sa.text(f'SELECT * FROM "{table}"'))
            columns = list(result.keys())
            for row in result:
                out.extend((table, column, str(value)) for column, value in zip(columns, row)
                           if value is not None)
    return out


def mail_text(path) -> str:
    message = email.message_from_bytes(path.read_bytes())
    return "".join(part.get_payload(decode=True).decode() for part in message.walk()
                   if part.get_content_maintype() == "text")


def count(system, service, sql) -> int:
    with system.runtimes[service].engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar_one()


def test_no_token_rests_anywhere_once_the_mails_are_sent(broker_settings, tmp_path,
                                                         new_database, caplog):
    caplog.set_level(logging.INFO)
    assert broker_settings.outbox_retention_seconds == 3600
    system = RealSystem(broker_settings, tmp_path, new_database,
                        ["identity", "notifications"])
    try:
        school, _ = system.school()
        tokens = []

        def invite(email: str) -> str:
            response = system.call("identity", "post", f"/api/v1/schools/{school}/staff",
                                   system.operator, {"name": "Sam Staff", "email": email,
                                                     "role": "school_admin"})
            assert response.status_code == 201, response.json
            token = system.tap.wait("InvitationIssued",
                                    lambda d: d["email"] == email)["data"]["token"]
            tokens.append(token)
            return token

        def request_reset(email: str) -> str:
            seen = {e["data"]["token"] for e in system.tap.seen
                    if e["type"] == "PasswordResetRequested"}
            assert system.call("identity", "post", "/api/v1/auth/password-reset",
                               json={"email": email}).status_code == 202
            token = system.tap.wait("PasswordResetRequested", lambda d: d["email"] == email
                                    and d["token"] not in seen)["data"]["token"]
            tokens.append(token)
            return token

        # An invitation accepted, one still open; a reset used, one still open.
        accepted = invite("one@example.org")
        assert system.call("identity", "post", "/api/v1/auth/activate", json={
            "token": accepted, "password": PASSWORD}).status_code == 200
        invite("two@example.org")
        used = request_reset("one@example.org")
        assert system.call("identity", "post", "/api/v1/auth/password-reset/confirm", json={
            "token": used, "password": "a-new-password-22"}).status_code == 200
        request_reset("one@example.org")
        # An invitation notifications cannot take (its contract fails): a dead letter.
        forged = dict(system.tap.wait("InvitationIssued",
                                      lambda d: d["email"] == "two@example.org"))
        broken = "broken-secret-" + uuid.uuid4().hex
        tokens.append(broken)
        publish_events(system.settings, {**forged, "id": str(uuid.uuid4()), "data": {
            **forged["data"], "token": broken, "expires_at": "not a date"}})

        wait_for(lambda: count(system, "notifications",
                               "SELECT count(*) FROM dead_letters") == 1,
                 message="the broken invitation dead-lettered")
        wait_for(lambda: count(system, "identity",
                               "SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0,
                 message="identity's events confirmed")
        # The four carrying a token: the operator's second-factor mail (issue 25) goes too.
        wait_for(lambda: count(system, "notifications",
                               "SELECT count(*) FROM deliveries WHERE status='sent' "
                               "AND kind IN ('invitation', 'reset')") == 4,
                 message="the four mails sent")
        mails = "".join(mail_text(path) for path in (tmp_path / "mail").glob("*.eml"))
        assert all(t in mails for t in tokens[:4])  # the mails themselves carried them

        found = [(service, table, column)
                 for service in ("identity", "notifications")
                 for table, column, text in every_cell(system.runtimes[service].engine)
                 if any(token in text for token in tokens)]
        assert found == [], f"a token rests in {found}"
        # The rest of a sent payload is kept for the retention (only the secret goes).
        with system.runtimes["identity"].engine.connect() as conn:
            payloads = conn.execute(sa.text(
                "SELECT payload FROM outbox WHERE event_type='InvitationIssued'")).scalars()
            kept = [json.loads(p) for p in payloads]
        assert kept and all(e["data"]["token"] is None and e["data"]["email"] for e in kept)
        logged = [r.getMessage() for r in caplog.records]
        assert logged and not [line for line in logged if any(t in line for t in tokens)]
    finally:
        system.close()
