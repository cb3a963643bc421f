"""On real RabbitMQ and PostgreSQL: outbox -> relay -> broker -> idempotent consumer."""
import json
import threading
import uuid

import pytest
import sqlalchemy as sa
from kombu import Connection, Exchange, Producer, Queue

from shared.messaging.envelope import new_envelope
from shared.messaging.publisher import BrokerPublisher
from shared.messaging.relay import OutboxRelay
from shared.worker import run_threads
from tests import fakeservice
from tests.conftest import register_queue
from tests.support import wait_for

pytestmark = pytest.mark.integration

SCHOOL = "00000000-0000-4000-8000-00000000000a"


def verified_data(student_id=None):
    return {"link_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4()),
            "guardian_id": str(uuid.uuid4()), "student_id": student_id or str(uuid.uuid4()),
            "record_version": 1}


@pytest.fixture
def services(broker_settings, new_database):
    """A producer ("linking") and a consumer ("reports"), each with its own database."""
    producer = fakeservice.runtime(fakeservice.make_spec("linking"), broker_settings,
                                   new_database("linking"))
    consumer = fakeservice.runtime(
        fakeservice.make_spec("reports", {"ParentVerified": fakeservice.record_effect}),
        broker_settings, new_database("reports"))
    stop = threading.Event()
    threads = run_threads([*producer.build_workers(), *consumer.build_workers()], stop)
    wait_for(lambda: all(w.connected.is_set() for w in consumer.queue_workers),
             message="consumer connected")
    yield producer, consumer
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    producer.engine.dispose()
    consumer.engine.dispose()


def publish_raw(settings, routing_key, body):
    with Connection(settings.broker_url) as conn:
        Producer(conn.channel(), exchange=Exchange(settings.exchange, type="topic")).publish(
            body, routing_key=routing_key, content_type="application/json", delivery_mode=2)


def test_event_from_one_services_transaction_is_applied_once_by_another(services):
    producer, consumer = services
    student = str(uuid.uuid4())
    with producer.context.sessions() as s, s.begin():
        s.execute(sa.text("INSERT INTO pupils (id, school_id, given_name, date_of_birth) "
                          "VALUES (:i, :s, 'Ann', '2015-03-02')"), {"i": student, "s": SCHOOL})
        env = producer.context.outbox.add(s, "ParentVerified", verified_data(student),
                                          school_id=SCHOOL)
    wait_for(lambda: fakeservice.count(consumer, "effects", "event_id=:e", e=env.id) == 1,
             message="effect applied")
    assert fakeservice.count(producer, "outbox", "sent_at IS NOT NULL") == 1
    assert fakeservice.count(consumer, "inbox", "event_id=:e", e=env.id) == 1


def test_the_same_event_delivered_twice_changes_nothing_the_second_time(services,
                                                                       broker_settings):
    producer, consumer = services
    env = new_envelope("ParentVerified", verified_data(), producer="linking", school_id=SCHOOL)
    marker = new_envelope("ParentVerified", verified_data(), producer="linking",
                          school_id=SCHOOL)
    for body in (env.to_json(), env.to_json(), marker.to_json()):
        publish_raw(broker_settings, "linking.parent_verified", body)
    # The marker comes after both copies on the same queue: once it is applied, both
    # copies of the first event have been processed.
    wait_for(lambda: fakeservice.count(consumer, "effects", "event_id=:e", e=marker.id) == 1,
             message="marker applied")
    assert fakeservice.count(consumer, "effects", "event_id=:e", e=env.id) == 1


def test_event_failing_its_schema_is_dead_lettered_and_the_consumer_keeps_going(
        services, broker_settings):
    producer, consumer = services
    bad = new_envelope("ParentVerified", verified_data(), producer="linking",
                       school_id=SCHOOL).to_wire()
    bad["data"]["student_id"] = "not-a-uuid"
    good = new_envelope("ParentVerified", verified_data(), producer="linking",
                        school_id=SCHOOL)
    publish_raw(broker_settings, "linking.parent_verified", json.dumps(bad))
    publish_raw(broker_settings, "linking.parent_verified", good.to_json())
    wait_for(lambda: fakeservice.count(consumer, "effects", "event_id=:e", e=good.id) == 1,
             message="later event applied")
    with consumer.engine.connect() as conn:
        letter = conn.execute(sa.text("SELECT event_id, reason, queue FROM dead_letters")).one()
    assert letter.event_id == bad["id"] and "student_id" in letter.reason
    assert letter.queue.endswith("reports.data")
    assert fakeservice.count(consumer, "effects", "event_id=:e", e=bad["id"]) == 0


def test_two_relays_on_one_outbox_never_publish_a_row_twice(broker_settings, new_database):
    rt = fakeservice.runtime(fakeservice.make_spec("linking"), broker_settings,
                             new_database("relays"))
    catcher = Queue(f"{broker_settings.queue_prefix}catch", exchange=Exchange(
        broker_settings.exchange, type="topic"), routing_key="linking.#", durable=False,
        auto_delete=False)
    register_queue(broker_settings, catcher.name)
    with Connection(broker_settings.broker_url) as conn:
        catcher(conn.channel()).declare()
    total = 300
    with rt.context.sessions() as s, s.begin():
        for _ in range(total):
            rt.context.outbox.add(s, "ParentVerified", verified_data(), school_id=SCHOOL)

    published: list[str] = []
    lock = threading.Lock()

    class Counting(BrokerPublisher):
        def publish_many(self, messages, window=256):
            result = super().publish_many(messages, window)
            with lock:
                published.extend(result.confirmed)
            return result

    relays = [OutboxRelay(rt.engine, rt.spec.tables, Counting(broker_settings), batch_size=20,
                          name=f"r{i}") for i in range(2)]
    stop = threading.Event()
    threads = run_threads([(r.name, r.run) for r in relays], stop)
    try:
        wait_for(lambda: relays[0].pending() == 0, timeout=60, message="outbox emptied")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert len(published) == total and len(set(published)) == total
    with Connection(broker_settings.broker_url) as conn:
        _, depth, _ = conn.channel().queue_declare(catcher.name, passive=True)
    assert depth == total
    rt.engine.dispose()


def close_own_connections(prefix: str) -> int:
    """Force-close only this test's connections (named after its queue prefix)."""
    import shutil
    import subprocess
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not on this machine (broker not local)")
    listing = subprocess.run(["rabbitmqctl", "list_connections", "pid", "client_properties",
                              "-q"], capture_output=True, text=True, check=True).stdout
    pids = [line.split("\t")[0] for line in listing.splitlines()
            if f'"connection_name","{prefix}' in line]
    for pid in pids:
        subprocess.run(["rabbitmqctl", "close_connection", pid, "test: connection cut"],
                       capture_output=True, check=True)
    return len(pids)


def test_consumer_and_relay_resume_after_their_connections_are_cut(services, broker_settings):
    producer, consumer = services
    before = new_envelope("ParentVerified", verified_data(), producer="linking",
                          school_id=SCHOOL)
    with producer.context.sessions() as s, s.begin():
        producer.context.outbox.add_envelope(s, before)
    wait_for(lambda: fakeservice.count(consumer, "effects", "event_id=:e", e=before.id) == 1,
             message="first event applied")
    assert close_own_connections(broker_settings.queue_prefix) >= 2  # consumers + publisher
    events = []
    with producer.context.sessions() as s, s.begin():
        for _ in range(50):
            events.append(producer.context.outbox.add(s, "ParentVerified", verified_data(),
                                                      school_id=SCHOOL))
    wait_for(lambda: fakeservice.count(consumer, "effects") == 51, timeout=60,
             message="events after the cut applied")
    with consumer.engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT event_id FROM effects")).scalars().all()
    assert sorted(ids) == sorted([before.id, *(e.id for e in events)])  # none lost, none twice


def test_a_publish_no_queue_takes_is_never_marked_sent(broker_settings, new_database):
    from shared.db import utcnow
    from shared.messaging.relay import RelayStalled
    rt = fakeservice.runtime(fakeservice.make_spec("linking"), broker_settings,
                             new_database("unroutable"))
    env = new_envelope("ParentVerified", verified_data(), producer="linking", school_id=SCHOOL)
    with rt.context.sessions() as s, s.begin():
        s.execute(rt.spec.tables.outbox.insert().values(
            event_id=env.id, event_type=env.type, routing_key="linking.nobody_listens",
            school_id=SCHOOL, payload=env.to_json(), created_at=utcnow(),
            next_attempt_at=utcnow(), attempts=0))
    relay = OutboxRelay(rt.engine, rt.spec.tables, BrokerPublisher(broker_settings))
    with pytest.raises(RelayStalled):
        relay.publish_batch()
    with rt.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT sent_at, attempts, last_error FROM outbox")).one()
    assert row.sent_at is None and row.attempts == 1 and "NO_ROUTE" in row.last_error
    relay.publisher.close()
    rt.engine.dispose()


def test_a_packed_relay_sends_few_messages_and_each_event_is_applied_once(
        broker_settings, new_database):
    from dataclasses import replace
    settings = replace(broker_settings, relay_pack=50, consumer_batch=80)
    producer = fakeservice.runtime(fakeservice.make_spec("linking"), settings,
                                   new_database("packer"))
    consumer = fakeservice.runtime(
        fakeservice.make_spec("reports", {"ParentVerified": fakeservice.record_effect}),
        settings, new_database("unpacker"))
    messages = []

    class Counting(BrokerPublisher):
        def publish_many(self, batch, window=256):
            messages.extend(message_id for _, _, message_id in batch)
            return super().publish_many(batch, window)

    loops = consumer.build_workers()
    stop = threading.Event()
    threads = run_threads([loop for loop in loops if not loop[0].endswith("relay")], stop)
    relay = OutboxRelay(producer.engine, producer.spec.tables, Counting(settings),
                        batch_size=500, pack=50)
    try:
        wait_for(lambda: all(w.connected.is_set() for w in consumer.queue_workers),
                 message="consumer connected")
        with producer.context.sessions() as s, s.begin():
            events = [producer.context.outbox.add(s, "ParentVerified", verified_data(),
                                                  school_id=SCHOOL) for _ in range(300)]
        assert relay.publish_batch() == 300
        assert len(messages) == 6  # 300 events of one routing key, 50 a message
        wait_for(lambda: fakeservice.count(consumer, "effects") == 300, timeout=60,
                 message="every packed event applied")
        relay.publish_batch()  # nothing left: no second copy
        with consumer.engine.connect() as conn:
            ids = conn.execute(sa.text("SELECT event_id FROM effects")).scalars().all()
        assert sorted(ids) == sorted(e.id for e in events)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        relay.publisher.close()
        producer.engine.dispose()
        consumer.engine.dispose()
