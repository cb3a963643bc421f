"""On real PostgreSQL: a batch's events written to the outbox in one statement, in order."""
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from shared.messaging.envelope import new_envelope
from shared.messaging.outbox import Outbox
from tests import fakeservice

pytestmark = pytest.mark.integration

SCHOOL = "00000000-0000-4000-8000-00000000000a"


def verified(school_id):
    return new_envelope("ParentVerified", {
        "link_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4()),
        "guardian_id": str(uuid.uuid4()), "student_id": str(uuid.uuid4()),
        "record_version": 1}, producer="linking", school_id=school_id)


def test_a_batch_of_events_is_one_insert_and_keeps_its_order(broker_settings, new_database):
    rt = fakeservice.runtime(fakeservice.make_spec("linking"), broker_settings,
                             new_database("outbox_many"))
    envelopes = [verified(None if i % 7 == 0 else SCHOOL) for i in range(600)]
    statements = []

    def seen(conn, cursor, statement, params, context, executemany):
        if "outbox" in statement:
            statements.append(executemany)
    event.listen(rt.engine, "before_cursor_execute", seen)
    try:
        with rt.context.sessions() as s, s.begin():
            Outbox("linking", rt.spec.tables).add_many(s, envelopes)
    finally:
        event.remove(rt.engine, "before_cursor_execute", seen)
    assert statements == [False]  # one statement, not an INSERT a row
    with rt.engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT event_id, event_type, routing_key, school_id, payload, created_at, "
            "next_attempt_at, attempts, sent_at FROM outbox ORDER BY seq")).all()
    assert [r.event_id for r in rows] == [e.id for e in envelopes]
    for row, envelope in zip(rows, envelopes):
        assert (row.event_type, row.routing_key, row.school_id, row.payload) == (
            "ParentVerified", "linking.parent_verified", envelope.school_id,
            envelope.to_json())
        assert row.created_at == row.next_attempt_at == rows[0].created_at
        assert row.attempts == 0 and row.sent_at is None
    rt.engine.dispose()
