"""Outbox, relay and idempotent consumer on SQLite and kombu memory:// (no broker)."""
import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa

from shared.db import make_engine, make_session_factory, utcnow
from shared.contracts import typed
from shared.messaging.consumer import route
from shared.messaging.consumer import (APPLIED, DEAD_LETTERED, DUPLICATE, RETRY,
                                       DeliveryProcessor, PermanentError)
from shared.messaging.envelope import new_envelope
from shared.messaging.outbox import Outbox, OutboxState
from shared.messaging.relay import (LISTENING_POLL_SECONDS, SCRUBBED_ROW_KEEP, OutboxRelay,
                                    RelayStalled)
from tests import fakeservice
from tests.support import OneByOnePublisher

SCHOOL = "00000000-0000-4000-8000-00000000000a"
STUDENT = "00000000-0000-4000-8000-0000000000b1"


def verified_data():
    return {"link_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4()),
            "guardian_id": str(uuid.uuid4()), "student_id": STUDENT, "record_version": 1}


@pytest.fixture
def db(tmp_path):
    spec = fakeservice.make_spec("reports", {"ParentVerified": fakeservice.record_effect})
    engine = make_engine(f"sqlite:///{tmp_path / 'svc.db'}")
    spec.metadata.create_all(engine)
    return spec, engine, make_session_factory(engine)


class RecordingPublisher(OneByOnePublisher):
    def __init__(self, fail_times=0):
        self.sent, self.fail_times = [], fail_times

    def publish(self, routing_key, body, message_id):
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("broker down")
        self.sent.append((routing_key, json.loads(body), message_id))

    def close(self):
        pass


def count(engine, table):
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_outbox_row_is_written_only_if_the_transaction_commits(db):
    spec, engine, sessions = db
    outbox = Outbox("linking", spec.tables)
    with pytest.raises(RuntimeError):
        with sessions() as s, s.begin():
            outbox.add(s, "ParentVerified", verified_data(), school_id=SCHOOL)
            raise RuntimeError("business rule failed")
    assert count(engine, "outbox") == 0
    with sessions() as s, s.begin():
        outbox.add(s, "ParentVerified", verified_data(), school_id=SCHOOL)
    assert count(engine, "outbox") == 1


def test_relay_publishes_marks_sent_and_retries_with_backoff(db):
    spec, engine, sessions = db
    now = [utcnow() + dt.timedelta(seconds=1)]
    publisher = RecordingPublisher(fail_times=1)
    relay = OutboxRelay(engine, spec.tables, publisher, clock=lambda: now[0])
    with sessions() as s, s.begin():
        env = Outbox("linking", spec.tables).add(s, "ParentVerified", verified_data(),
                                                 school_id=SCHOOL)
    with pytest.raises(RelayStalled):
        relay.publish_batch()
    assert publisher.sent == [] and relay.pending() == 1
    assert relay.publish_batch() == 0  # backing off: not due yet
    now[0] += dt.timedelta(seconds=5)
    assert relay.publish_batch() == 1
    (routing_key, body, message_id), = publisher.sent
    assert routing_key == "linking.parent_verified" and message_id == env.id
    assert body["id"] == env.id and relay.pending() == 0
    assert relay.publish_batch() == 0  # sent rows are never sent again


def test_an_idle_relay_polls_often_only_while_no_notice_can_wake_it(db):
    """Issue 27: a listening relay's poll is a fallback, not a transaction every 0.2 s in
    each service's worker; unwoken (SQLite, a listener that lost its connection) it
    polls every `idle_wait` as before."""
    spec, engine, _ = db
    relay = OutboxRelay(engine, spec.tables, RecordingPublisher())
    assert relay.poll_wait(0.2) == 0.2  # SQLite: nothing listens
    relay.listening.set()  # as wakeup.listen does while its connection listens
    assert relay.poll_wait(0.2) == LISTENING_POLL_SECONDS >= 1.0
    assert relay.poll_wait(120.0) == 120.0  # a longer poll asked for stays
    relay.listening.clear()  # the connection went: poll as often as before
    assert relay.poll_wait(0.2) == 0.2


def test_relay_scrubs_sent_payloads_after_retention(db):
    spec, engine, sessions = db
    now = [utcnow() + dt.timedelta(seconds=1)]
    relay = OutboxRelay(engine, spec.tables, RecordingPublisher(),
                        retention=dt.timedelta(minutes=10), clock=lambda: now[0])
    with sessions() as s, s.begin():
        Outbox("linking", spec.tables).add(s, "ParentVerified", verified_data(),
                                           school_id=SCHOOL)
    relay.publish_batch()
    assert relay.scrub() == 0
    now[0] += dt.timedelta(minutes=11)
    assert relay.scrub() == 1
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT payload FROM outbox")).scalar_one() is None


def test_an_outbox_row_goes_from_waiting_to_sent_to_scrubbed_and_then_away(db):
    """Each row is in one state at a time, as OutboxState names them."""
    spec, engine, sessions = db
    ob, now = spec.tables.outbox, [utcnow() + dt.timedelta(seconds=1)]
    publisher = RecordingPublisher(fail_times=1)
    relay = OutboxRelay(engine, spec.tables, publisher, retention=dt.timedelta(minutes=10),
                        clock=lambda: now[0])

    def states():
        with engine.connect() as conn:
            return {state: conn.execute(sa.select(sa.func.count()).select_from(ob).where(
                state.rows(ob))).scalar_one() for state in OutboxState}

    with sessions() as s, s.begin():
        Outbox("linking", spec.tables).add(s, "ParentVerified", verified_data(),
                                           school_id=SCHOOL)
    assert states() == {"waiting": 1, "sent": 0, "scrubbed": 0}
    with pytest.raises(RelayStalled):
        relay.publish_batch()  # the broker refused it: still waiting, due later
    assert states() == {"waiting": 1, "sent": 0, "scrubbed": 0}
    now[0] += dt.timedelta(minutes=1)
    assert relay.publish_batch() == 1
    assert states() == {"waiting": 0, "sent": 1, "scrubbed": 0}
    now[0] += dt.timedelta(minutes=11)
    assert relay.scrub() == 1
    assert states() == {"waiting": 0, "sent": 0, "scrubbed": 1}
    now[0] += SCRUBBED_ROW_KEEP
    relay.scrub()
    assert states() == {"waiting": 0, "sent": 0, "scrubbed": 0}


def make_processor(spec, sessions, handler, max_attempts=3):
    return DeliveryProcessor("reports", "reports.data", sessions, spec.tables,
                             {"ParentVerified": route(typed.ParentVerified, handler)}, max_attempts)


def test_consumer_applies_once_and_ignores_duplicates(db):
    spec, engine, sessions = db
    processor = make_processor(spec, sessions, fakeservice.record_effect)
    body = new_envelope("ParentVerified", verified_data(), producer="linking",
                        school_id=SCHOOL).to_json()
    assert processor.process(body) == APPLIED
    assert processor.process(body) == DUPLICATE
    assert count(engine, "effects") == 1 and count(engine, "inbox") == 1


def test_event_failing_its_schema_is_dead_lettered_with_reason(db):
    spec, engine, sessions = db
    processor = make_processor(spec, sessions, fakeservice.record_effect)
    env = new_envelope("ParentVerified", verified_data(), producer="linking",
                       school_id=SCHOOL).to_wire()
    env["data"]["student_id"] = "nope"
    assert processor.process(json.dumps(env)) == DEAD_LETTERED
    with engine.connect() as conn:
        letter = conn.execute(sa.text("SELECT * FROM dead_letters")).mappings().one()
    assert "student_id" in letter["reason"] and letter["event_id"] == env["id"]
    assert count(engine, "effects") == 0


def test_failing_handler_is_retried_then_dead_lettered_and_its_effect_rolled_back(db):
    spec, engine, sessions = db

    def explode(session, events):
        fakeservice.record_effect(session, events)
        raise RuntimeError("downstream unavailable")

    processor = make_processor(spec, sessions, explode, max_attempts=3)
    body = new_envelope("ParentVerified", verified_data(), producer="linking",
                        school_id=SCHOOL).to_json()
    assert [processor.process(body) for _ in range(3)] == [RETRY, RETRY, DEAD_LETTERED]
    assert count(engine, "effects") == 0 and count(engine, "inbox") == 0
    with engine.connect() as conn:
        letter = conn.execute(sa.text("SELECT reason, attempts FROM dead_letters")).one()
    # The type only: an exception's text can hold personal data.
    assert letter.attempts == 3 and letter.reason == "RuntimeError"
    assert count(engine, "delivery_attempts") == 0


def test_permanent_error_is_dead_lettered_at_once(db):
    spec, engine, sessions = db

    def refuse(session, events):
        raise PermanentError("student unknown at school")

    processor = make_processor(spec, sessions, refuse)
    body = new_envelope("ParentVerified", verified_data(), producer="linking",
                        school_id=SCHOOL).to_json()
    assert processor.process(body) == DEAD_LETTERED


def test_event_without_a_handler_is_dead_lettered_not_dropped(db):
    spec, engine, sessions = db
    processor = make_processor(spec, sessions, fakeservice.record_effect)
    body = new_envelope("LinkRevoked", verified_data(), producer="linking",
                        school_id=SCHOOL).to_json()
    assert processor.process(body) == DEAD_LETTERED
    assert count(engine, "dead_letters") == 1


def test_body_nested_too_deep_is_dead_lettered_not_looped(db):
    spec, engine, sessions = db
    processor = make_processor(spec, sessions, fakeservice.record_effect)
    assert processor.process("[" * 100_000 + "]" * 100_000) == DEAD_LETTERED


def test_unprocessable_delivery_is_retried_a_bounded_number_of_times(db):
    spec, engine, sessions = db
    processor = make_processor(spec, sessions, fakeservice.record_effect, max_attempts=2)
    body = b"\x00 not an event"
    outcomes = [processor.unprocessable(body, RuntimeError("x")) for _ in range(2)]
    assert outcomes == [RETRY, DEAD_LETTERED]
    with engine.connect() as conn:
        payload = conn.execute(sa.text("SELECT payload FROM dead_letters")).scalar_one()
    assert "\x00" not in payload and count(engine, "delivery_attempts") == 0


def test_an_event_about_a_subject_erased_while_it_waited_is_blanked_once_sent(db):
    spec, engine, sessions = db
    erased = str(uuid.uuid4())
    with sessions() as session, session.begin():
        outbox = Outbox("linking", spec.tables)
        outbox.add(session, "ParentVerified", {**verified_data(), "student_id": erased},
                   school_id=SCHOOL)
        outbox.add(session, "ParentVerified", verified_data(), school_id=SCHOOL)
        session.execute(spec.tables.erasure_tombstones.insert().values(
            subject_type="student", subject_id=erased, school_id=SCHOOL, erased_at=utcnow()))
    relay = OutboxRelay(engine, spec.tables, RecordingPublisher(),
                        retention=dt.timedelta(hours=1))
    assert relay.publish_batch() == 2
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT payload FROM outbox WHERE sent_at IS NOT NULL")
                            ).scalars().all()
    assert len(rows) == 2 and rows.count(None) == 1  # the erased one blanked, not the other
    assert STUDENT in next(p for p in rows if p)


def test_the_relay_sends_rights_events_before_a_backlog_of_school_data(db):
    spec, engine, sessions = db
    outbox = Outbox("linking", spec.tables)
    with sessions() as session, session.begin():
        for _ in range(30):
            outbox.add(session, "ParentVerified", verified_data(), school_id=SCHOOL)
        answer = outbox.add(session, "ErasureCompleted", {
            "request_id": str(uuid.uuid4()), "service": "linking", "outcome": "done",
            "counts": {}}, school_id=SCHOOL)
    publisher = RecordingPublisher()
    relay = OutboxRelay(engine, spec.tables, publisher, batch_size=10)
    assert relay.publish_batch() == 10
    assert publisher.sent[0][2] == answer.id  # first out, though written last
    while relay.publish_batch():
        pass
    assert len(publisher.sent) == 31 and relay.pending() == 0


def test_retired_bindings_are_unbound_from_the_queues_declared():
    """A binding an earlier release declared goes as the topology is declared (a queue
    keeps its bindings otherwise), and only from a queue that is there."""
    from kombu import Connection

    from shared.config import Settings
    from shared.messaging import topology
    settings = Settings(broker_url="memory://")
    calls = []
    with Connection("memory://") as conn:
        channel = conn.channel()
        real_unbind = channel.queue_unbind

        def unbind(queue, exchange=None, routing_key="", **kwargs):
            calls.append((queue, routing_key))
            return real_unbind(queue, exchange, routing_key, **kwargs)
        channel.queue_unbind = unbind
        topology.declare_topology(channel, settings)
    assert sorted(calls) == sorted(
        (topology.queue_name(settings, service, channel_name), key)
        for service, channel_name, key in topology.RETIRED_BINDINGS)
    for service, channel_name, key in topology.RETIRED_BINDINGS:
        bound = [c.binding_key for c in topology.subscriptions(service)[channel_name]]
        assert key not in bound  # retired: no contract binds it again


def test_the_inbox_forgets_old_events_and_an_event_that_old_is_refused_not_reapplied(db):
    """Inbox rows go after the retention (plus a day for clocks); an event older than the
    retention is dead-lettered with why, so a redelivery or replay that comes after its
    row went is never applied a second time (docs/decisions.md "Inbox retention")."""
    spec, engine, sessions = db
    processor = make_processor(spec, sessions, fakeservice.record_effect)
    now = utcnow()
    recent = new_envelope("ParentVerified", verified_data(), producer="linking",
                          school_id=SCHOOL, occurred_at=now - dt.timedelta(days=29)).to_json()
    assert processor.process(recent) == APPLIED
    stale = new_envelope("ParentVerified", verified_data(), producer="linking",
                         school_id=SCHOOL, occurred_at=now - dt.timedelta(days=31)).to_json()
    with sessions() as s, s.begin():  # as if it had been applied 32 days ago
        s.execute(spec.tables.inbox.insert().values(
            event_id=json.loads(stale)["id"], event_type="ParentVerified",
            applied_at=now - dt.timedelta(days=32)))

    assert processor.prune_inbox() == 1  # the 32-day-old row only
    assert count(engine, "inbox") == 1
    # Its row gone, the old event comes again: refused, not applied twice.
    assert processor.process(stale) == DEAD_LETTERED
    with engine.connect() as conn:
        reason = conn.execute(sa.text("SELECT reason FROM dead_letters")).scalar_one()
    assert "older than the inbox retention" in reason
    # The recent one's row is kept: its redelivery is still a duplicate.
    assert processor.process(recent) == DUPLICATE
    assert count(engine, "effects") == 1
