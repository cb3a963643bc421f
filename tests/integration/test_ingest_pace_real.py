"""A school's pushes are taken at a bounded pace (issue 27), on real PostgreSQL and
RabbitMQ: beyond PP_INGEST_SCHOOL_EVENTS_PER_SECOND (over 10 seconds) the batch is refused
whole with 429, Retry-After and the one JSON error; nothing of it is kept; the same batch
after the wait is taken, and every event accepted reaches the consumers."""
import time
from dataclasses import replace

import pytest

from tests.integration.test_ingest_real import Push, student
from tests.support import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def paced_push(broker_settings, tmp_path, new_database):
    push = Push(replace(broker_settings, ingest_school_events_per_second=2), tmp_path,
                new_database)  # 20 events a school in any 10 seconds
    yield push
    push.close()


def test_a_push_beyond_the_schools_pace_is_refused_with_retry_after(paced_push):
    _, token = paced_push.school("Fast School")
    first = paced_push.push(token, [student(f"S{i}") for i in range(15)], batch_id="b1")
    assert first.status_code == 202 and first.json["accepted"] == 15
    second_events = [student(f"T{i}") for i in range(10)]
    refused = paced_push.push(token, second_events, batch_id="b2")
    assert refused.status_code == 429 and refused.mimetype == "application/json"
    wait = int(refused.headers["Retry-After"])
    assert 1 <= wait <= 10
    assert refused.json["error"]["code"] == "push_rate_exceeded"
    assert refused.json["error"]["retry_after"] == wait
    auth = {"Authorization": f"Bearer {token}"}
    assert paced_push.client.get("/api/v1/school-data/batches/b2",
                                 headers=auth).status_code == 404  # nothing of it kept

    # The same batch again is answered as before, never refused; another school has its own.
    again = paced_push.push(token, [student(f"S{i}") for i in range(15)], batch_id="b1")
    assert again.status_code == 202 and again.json == first.json
    _, other = paced_push.school("Other School")
    assert paced_push.push(other, [student(f"O{i}") for i in range(15)]).status_code == 202

    # A school system that honours Retry-After gets the batch taken, not before the wait.
    started, answers = time.monotonic(), []

    def taken() -> bool:
        answers.append(paced_push.push(token, second_events, batch_id="b2"))
        return answers[-1].status_code == 202
    wait_for(taken, timeout=15, interval=0.5, message="the batch taken after Retry-After")
    assert {a.status_code for a in answers[:-1]} <= {429}
    assert answers[-1].json["accepted"] == 10 and time.monotonic() - started >= wait - 1
    wait_for(lambda: len(paced_push.events("reports", "StudentRecorded")) >= 40,
             message="every accepted event published")
    assert len(paced_push.events("reports", "StudentRecorded")) == 40  # none lost or twice


def test_the_pace_check_reads_the_ledger_by_school_and_time(new_database):
    """The pace query finds a school's recent batches through an index on (school_id,
    received_at) (migration 0009), not by reading the school's whole ledger through the
    primary key (school_id, batch_id) and filtering it."""
    import datetime as dt
    import uuid

    import sqlalchemy as sa

    from services.ingest.app import SPEC
    from services.ingest.models import batches
    from services.ingest.pace import PushPace
    from shared.config import Settings
    from shared.service import ServiceRuntime

    runtime = ServiceRuntime(SPEC, replace(Settings.from_env({}),
                                           database_urls={"ingest": new_database("ingest")}))
    runtime.start()  # migrations to head
    school, now = str(uuid.uuid4()), dt.datetime.now(dt.timezone.utc)
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM batches" in statement:
            seen.append((statement, parameters))
    try:
        with runtime.context.sessions() as session, session.begin():
            session.execute(batches.insert(), [{
                "school_id": school, "batch_id": f"b{n}", "body_hash": "0" * 64,
                "received_at": now - dt.timedelta(minutes=n), "events": 1, "accepted": 1,
                "rejected": []} for n in range(50)])
        sa.event.listen(runtime.engine, "before_cursor_execute", capture)
        with runtime.context.sessions() as session, session.begin():
            PushPace(events_per_second=100).admit(session, school, 1, now)
        sa.event.remove(runtime.engine, "before_cursor_execute", capture)
        (statement, parameters), = seen
        with runtime.engine.connect() as conn:
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(
                f"EXPLAIN {statement}", parameters))
        assert "ix_batches_school_received" in plan, plan
        assert "received_at >" in plan.split("Index Cond:")[1].splitlines()[0], plan
    finally:
        runtime.engine.dispose()
