"""The batching consumer (issue 13) on SQLite: a batch commits once, a poison event is
retried alone, set-based handlers leave what one-by-one application would leave."""
import json
import random
import socket
import threading
import uuid

import kombu
import pytest
import sqlalchemy as sa

from shared.config import Settings
from shared.contracts import typed
from shared.db import make_engine, make_session_factory, upsert_versioned_many
from shared.messaging.consumer import (APPLIED, DEAD_LETTERED, DUPLICATE, RETRY,
                                       DeliveryProcessor, route)
from shared.messaging.queue_worker import QueueWorker
from shared.messaging.envelope import new_envelope
from tests import fakeservice

SCHOOL = "00000000-0000-4000-8000-00000000000a"


def verified(student_id=None):
    return {"link_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4()),
            "guardian_id": str(uuid.uuid4()), "student_id": student_id or str(uuid.uuid4()),
            "record_version": 1}


def body(event_type="ParentVerified", data=None) -> str:
    return new_envelope(event_type, data or verified(), producer="linking",
                        school_id=SCHOOL).to_json()


@pytest.fixture
def world(tmp_path):
    spec = fakeservice.make_spec("reports")
    engine = make_engine(f"sqlite:///{tmp_path / 'svc.db'}")
    spec.metadata.create_all(engine)
    commits = []
    sa.event.listen(engine, "commit", lambda conn: commits.append(1))
    yield spec, engine, make_session_factory(engine), commits
    engine.dispose()


def processor(spec, sessions, handlers, max_attempts=3):
    """`handlers`: event type -> a handler (gathered) or a Route."""
    routes = {t: h if not callable(h) else route(typed.BY_TYPE[t], h, gathered=True)
              for t, h in handlers.items()}
    return DeliveryProcessor("reports", "reports.data", sessions, spec.tables, routes,
                             max_attempts)


def rows(engine, sql):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).all()


def test_a_batch_is_applied_in_one_transaction_with_its_inbox_rows(world):
    spec, engine, sessions, commits = world
    consumer = processor(spec, sessions, {"ParentVerified": fakeservice.record_effect})
    bodies = [body() for _ in range(20)]
    assert consumer.process_batch(bodies) == [APPLIED] * 20
    assert len(commits) == 1
    assert len(rows(engine, "SELECT * FROM effects")) == 20
    assert len(rows(engine, "SELECT * FROM inbox")) == 20


def test_copies_in_a_batch_and_events_applied_before_are_duplicates(world):
    spec, engine, sessions, _ = world
    consumer = processor(spec, sessions, {"ParentVerified": fakeservice.record_effect})
    earlier, new = body(), body()
    assert consumer.process_batch([earlier]) == [APPLIED]
    assert consumer.process_batch([new, earlier, new]) == [APPLIED, DUPLICATE, DUPLICATE]
    ids = sorted(r.event_id for r in rows(engine, "SELECT event_id FROM effects"))
    assert ids == sorted(json.loads(b)["id"] for b in (earlier, new))


def test_a_poison_event_is_retried_alone_and_the_others_applied_once(world):
    spec, engine, sessions, _ = world
    poison_student = str(uuid.uuid4())

    def handler(session, events):
        fakeservice.record_effect(session, events)
        if any(e.data.student_id == poison_student for e in events):
            raise RuntimeError("cannot apply")

    consumer = processor(spec, sessions, {"ParentVerified": handler}, max_attempts=2)
    bodies = [body() for _ in range(5)]
    bodies.insert(2, body(data=verified(poison_student)))
    assert consumer.process_batch(bodies) == [APPLIED, APPLIED, RETRY, APPLIED, APPLIED,
                                              APPLIED]
    # Redelivered with the poison event: the others are duplicates, it is dead-lettered.
    assert consumer.process_batch(bodies) == [DUPLICATE, DUPLICATE, DEAD_LETTERED,
                                              DUPLICATE, DUPLICATE, DUPLICATE]
    effects = [r.student_id for r in rows(engine, "SELECT student_id FROM effects")]
    assert len(effects) == 5 and poison_student not in effects  # each once, poison none
    assert len(rows(engine, "SELECT * FROM dead_letters")) == 1


def test_an_undecodable_delivery_in_a_batch_is_dead_lettered_once(world):
    spec, engine, sessions, _ = world
    consumer = processor(spec, sessions, {"ParentVerified": fakeservice.record_effect})
    outcomes = consumer.process_batch([body(), "not json", body("LinkRevoked"), body()])
    assert outcomes == [APPLIED, DEAD_LETTERED, DEAD_LETTERED, APPLIED]
    assert len(rows(engine, "SELECT * FROM dead_letters")) == 2
    assert len(rows(engine, "SELECT * FROM effects")) == 2


def test_gathered_handlers_are_grouped_between_events_that_keep_their_place(world):
    spec, engine, sessions, _ = world
    calls = []

    def handler(tag):
        return lambda session, events: calls.append(
            (tag if len(events) == 1 else tag + "*",
             events[0].data.student_id if len(events) == 1
             else [e.data.student_id for e in events]))

    consumer = processor(spec, sessions, {
        "ParentVerified": route(typed.ParentVerified, handler("verified"), gathered=True),
        "LinkLocked": route(typed.LinkLocked, handler("locked"), gathered=True),
        "LinkRevoked": route(typed.LinkRevoked, handler("revoked"))})
    sequence = [("ParentVerified", "a"), ("LinkLocked", "b"), ("ParentVerified", "c"),
                ("LinkRevoked", "d"), ("ParentVerified", "e")]
    bodies = [body(t, verified(f"00000000-0000-4000-8000-00000000000{s}"))
              for t, s in sequence]
    assert consumer.process_batch(bodies) == [APPLIED] * 5
    short = [(tag, [s[-1] for s in ids] if isinstance(ids, list) else ids[-1])
             for tag, ids in calls]
    assert short == [("verified*", ["a", "c"]), ("locked", "b"), ("revoked", "d"),
                     ("verified", "e")]


def test_upsert_versioned_many_leaves_what_one_by_one_upserts_leave(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'u.db'}")
    try:
        upserts_many_as_one_by_one(engine)
    finally:
        engine.dispose()


def upserts_many_as_one_by_one(engine: sa.Engine) -> None:
    """Rounds of writes with late, repeated and equal versions: upsert_versioned_many
    leaves what applying the rows one by one leaves, by the rule (a row replaces the
    stored one unless that one is newer), written here as a plain model (also run on
    PostgreSQL, whose path is one INSERT … ON CONFLICT statement). A batch of one is the
    single write: both the model's batches and singles are checked."""
    metadata = sa.MetaData()
    tables = [sa.Table(name, metadata, sa.Column("record_id", sa.String, primary_key=True),
                       sa.Column("value", sa.String), sa.Column("score", sa.Float),
                       sa.Column("record_version", sa.Integer))
              for name in ("one_by_one", "set_based")]
    metadata.create_all(engine)
    sessions = make_session_factory(engine)
    rng = random.Random(13)
    model: dict[str, tuple] = {}
    for _ in range(30):
        batch = [{"record_id": f"r{rng.randint(1, 8)}", "value": f"v{rng.random():.6f}",
                  "score": rng.choice([None, 1.5, 40.0]),
                  "record_version": rng.randint(1, 4)} for _ in range(rng.randint(1, 12))]
        for row in batch:
            known = model.get(row["record_id"])
            if known is None or row["record_version"] >= known[3]:
                model[row["record_id"]] = (row["record_id"], row["value"], row["score"],
                                           row["record_version"])
        with sessions() as session, session.begin():
            for row in batch:
                upsert_versioned_many(session, tables[0], "record_id", [row])
            upsert_versioned_many(session, tables[1], "record_id", batch)
        with engine.connect() as conn:
            a, b = (conn.execute(sa.select(t).order_by(t.c.record_id)).all() for t in tables)
        assert [tuple(r) for r in a] == [tuple(r) for r in b] == sorted(model.values())


def test_a_packed_message_is_unpacked_into_its_events():
    from shared.messaging.queue_worker import unpack
    one, two = body(), body()
    assert unpack(f"[{one},{two}]".encode()) == [json.loads(one), json.loads(two)]
    assert unpack(one) == [one]
    for odd in (b"[1, 2]", b"[]", b"[not json"):  # left whole, to be dead-lettered
        assert unpack(odd) == [odd]


def test_events_of_a_packed_message_are_applied_and_dead_lettered_each_alone(world):
    from shared.messaging.queue_worker import unpack
    spec, engine, sessions, _ = world
    consumer = processor(spec, sessions, {"ParentVerified": fakeservice.record_effect})
    bad = json.loads(body())
    bad["data"]["student_id"] = "not a uuid"
    events = unpack(f"[{body()},{json.dumps(bad)},{body()}]")
    assert consumer.process_batch(events) == [APPLIED, DEAD_LETTERED, APPLIED]
    letter = rows(engine, "SELECT event_id, payload FROM dead_letters")
    assert letter[0].event_id == bad["id"] and json.loads(letter[0].payload) == bad
    assert len(rows(engine, "SELECT * FROM effects")) == 2


class _Delivery:
    def __init__(self, body: str):
        self.body, self.acked = body, False

    def ack(self, multiple: bool = False) -> None:
        self.acked = True


class _Broker:
    """drain_events hands the worker one delivery at a time, then reports the queue empty
    (and stops the worker)."""

    def __init__(self, worker: QueueWorker, deliveries: list, stop: threading.Event):
        self.worker, self.deliveries, self.stop = worker, deliveries, stop

    def drain_events(self, timeout: float) -> None:
        if self.deliveries:
            self.worker._on_message(self.deliveries.pop(0))
            return
        self.stop.set()
        raise socket.timeout

    def heartbeat_check(self) -> None:
        pass


@pytest.mark.parametrize("bytes_bound, batches", [(3, [3, 3, 1]), (1000, [7])])
def test_a_batch_is_bounded_by_the_bytes_of_its_messages(bytes_bound, batches):
    """A ResultsRecorded carries up to 500 results: a batch counted in events alone could
    hold 100,000 of them. Here seven equal messages, batches of at most three messages'
    bytes."""
    sizes = []

    class Recorder:
        service = "reports"

        def process_batch(self, bodies):
            sizes.append(len(bodies))
            return [APPLIED] * len(bodies)

    one = body()
    settings = Settings.from_env({"PP_CONSUMER_BATCH": "100",
                                  "PP_CONSUMER_BATCH_BYTES": str(bytes_bound * len(one))})
    worker = QueueWorker(settings, Recorder(), kombu.Queue("reports.data"))
    stop = threading.Event()
    worker._stop = stop
    deliveries = [_Delivery(one) for _ in range(7)]
    worker._consume(_Broker(worker, list(deliveries), stop), stop)
    assert sizes == batches and all(d.acked for d in deliveries)


def test_a_schools_waiting_roster_is_applied_in_batches_of_a_thousand_events():
    """Issue 27: a roster handler's statements are per batch (set-based), so onboarding a
    school costs per batch: by default a consumer takes a thousand waiting events at once
    (ten packed messages of a hundred), not two hundred."""
    sizes = []

    class Recorder:
        service = "identity"

        def process_batch(self, bodies):
            sizes.append(len(bodies))
            return [APPLIED] * len(bodies)

    pack = "[" + ",".join(body() for _ in range(100)) + "]"
    worker = QueueWorker(Settings.from_env({}), Recorder(), kombu.Queue("identity.data"))
    stop = threading.Event()
    worker._stop = stop
    deliveries = [_Delivery(pack) for _ in range(25)]
    worker._consume(_Broker(worker, list(deliveries), stop), stop)
    assert sizes == [1000, 1000, 500] and all(d.acked for d in deliveries)


def test_the_relay_is_woken_once_a_batch_applied_and_was_acked():
    """Issue 27: a batch's effects may hold outbox rows (identity's invitations after a
    roster batch); the worker wakes its relay once the batch committed and was acked,
    rather than leaving them to the relay's next idle poll. A batch of duplicates alone
    wrote nothing: no wake-up."""
    outcomes = [[APPLIED, DUPLICATE], [DUPLICATE]]
    woken: list[bool] = []  # each wake-up: were the batch's deliveries acked by then?
    deliveries = [_Delivery(body()), _Delivery(body()), _Delivery(body())]

    class Recorder:
        service = "identity"

        def process_batch(self, bodies):
            return outcomes.pop(0)

    settings = Settings.from_env({"PP_CONSUMER_BATCH": "2"})
    worker = QueueWorker(settings, Recorder(), kombu.Queue("identity.data"),
                         lambda: woken.append(all(d.acked for d in deliveries[:2])))
    stop = threading.Event()
    worker._stop = stop
    worker._consume(_Broker(worker, list(deliveries), stop), stop)
    assert woken == [True] and all(d.acked for d in deliveries)
