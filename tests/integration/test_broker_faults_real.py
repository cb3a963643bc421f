"""A stream of 1,000 events while the broker force-closes every connection, and later
crashes and comes back (a throwaway node this test owns): 0 lost, 0 applied twice."""
import threading
import uuid
from dataclasses import replace

import pytest
import sqlalchemy as sa

from shared.config import Settings
from shared.worker import run_threads
from tests import fakeservice
from tests.support import wait_for

pytestmark = pytest.mark.integration
SCHOOL = "00000000-0000-4000-8000-0000000000fc"
TOTAL = 1000


def test_a_stream_survives_force_closed_connections_and_a_broker_crash(own_broker,
                                                                       new_database):
    settings = replace(Settings.from_env({}), broker_url=own_broker.url,
                       exchange="pp.faults", queue_prefix="faults.", max_attempts=3)
    producer = fakeservice.runtime(fakeservice.make_spec("linking"), settings,
                                   new_database("linking"))
    consumer = fakeservice.runtime(
        fakeservice.make_spec("reports", {"ParentVerified": fakeservice.record_effect}),
        settings, new_database("reports"))
    stop = threading.Event()
    threads = run_threads([*producer.build_workers(), *consumer.build_workers()], stop)
    committed: list[str] = []

    def stream():
        """A steady stream, 2 events every 20 ms or so, each pair its own transaction."""
        while len(committed) < TOTAL and not stop.is_set():
            with producer.context.sessions() as s, s.begin():
                batch = [producer.context.outbox.add(s, "ParentVerified", {
                    "link_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4()),
                    "guardian_id": str(uuid.uuid4()), "student_id": str(uuid.uuid4()),
                    "record_version": 1}, school_id=SCHOOL).id for _ in range(2)]
            committed.extend(batch)
            producer.relay.wakeup.set()
            stop.wait(0.02)  # pacing the stream so that the faults land inside it

    def applied() -> int:
        return fakeservice.count(consumer, "effects")

    data_worker = next(w for w in consumer.queue_workers if w.queue.name.endswith(".data"))
    try:
        wait_for(lambda: all(w.connected.is_set() for w in consumer.queue_workers),
                 message="consumers connected")
        writer = threading.Thread(target=stream)
        writer.start()
        for threshold in (150, 350):
            wait_for(lambda: applied() >= threshold, timeout=60, message=f"{threshold} applied")
            own_broker.close_all_connections()
            assert len(committed) < TOTAL  # the cut landed inside the stream
        wait_for(lambda: data_worker.reconnects >= 2, timeout=60,
                 message="consumer reconnected after each cut")
        wait_for(lambda: applied() >= 550, timeout=60, message="550 applied")
        own_broker.kill()  # SIGKILL: a crashed broker ...
        assert len(committed) < TOTAL
        own_broker.start()  # ... and the same node again, with its queues
        writer.join(timeout=120)
        wait_for(lambda: applied() >= TOTAL, timeout=120, message="all applied")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
    with consumer.engine.connect() as conn:
        effects = conn.execute(sa.text("SELECT event_id FROM effects")).scalars().all()
    assert len(committed) == TOTAL
    assert sorted(effects) == sorted(committed)  # none lost, none applied twice
    assert data_worker.reconnects >= 3
    assert producer.relay.publisher.connects >= 3  # the relay reconnected too
    assert producer.relay.pending() == 0
    producer.engine.dispose()
    consumer.engine.dispose()
