"""On real PostgreSQL: a transaction's outbox rows go by COPY (shared/messaging/outbox.py),
in their order, each payload exactly the envelope's JSON, whatever it holds; and only if
the transaction commits."""
import json
import uuid

import pytest
import sqlalchemy as sa

from shared.db import utcnow
from shared.messaging.envelope import Envelope
from tests import fakeservice
from tests.unit.test_ingest_bulk import counted_statements

pytestmark = pytest.mark.integration

SCHOOL = "00000000-0000-4000-8000-00000000000a"
# What COPY's text format must escape, and what JSON does: tabs, newlines, backslashes,
# quotes, a Welsh circumflex, a character beyond the BMP, a would-be end of data.
AWKWARD = ["Tab\there", "line\nbreak\r\n", "back\\slash \\N", 'quote "q"', "Ŵyn", "🙂",
           "\\.", "comma, semi; pipe|"]


def envelope(note: str) -> Envelope:
    """An event whose data holds `note` (the outbox stores what it is given: contracts are
    checked as events are built)."""
    return Envelope(id=str(uuid.uuid4()), type="ParentVerified", version=1,
                    occurred_at=utcnow(), producer="linking", school_id=SCHOOL,
                    correlation_id=str(uuid.uuid4()), data={"note": note})


@pytest.fixture
def producer(broker_settings, new_database):
    rt = fakeservice.runtime(fakeservice.make_spec("linking"), broker_settings,
                             new_database("outboxcopy"))
    yield rt
    rt.engine.dispose()


def payloads(rt) -> list[str]:
    with rt.engine.connect() as conn:
        return conn.execute(sa.text("SELECT payload FROM outbox ORDER BY seq")).scalars().all()


def test_a_transactions_rows_go_by_copy_in_order_each_payload_as_it_was(producer):
    rt = producer
    written = [envelope(note) for note in AWKWARD * 3]
    with rt.context.sessions() as session, session.begin(), \
            counted_statements(rt.engine) as seen:
        rt.context.outbox.add_many(session, written)
    assert not [s for s in seen if "INSERT INTO outbox" in s], seen
    assert payloads(rt) == [e.to_json() for e in written]
    assert json.loads(payloads(rt)[0])["data"]["note"] == AWKWARD[0]


def test_rows_copied_in_a_transaction_rolled_back_are_not_there(producer):
    rt = producer
    with rt.context.sessions() as session:
        with session.begin():
            rt.context.outbox.add_many(session, [envelope("kept")])
        session.begin()
        rt.context.outbox.add_many(session, [envelope(note) for note in AWKWARD])
        session.rollback()
    assert [json.loads(p)["data"]["note"] for p in payloads(rt)] == ["kept"]
