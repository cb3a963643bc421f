"""A quorum queue lost in a broker crash (docs/operations.md, "A queue lost in a broker
crash"), on a RabbitMQ node of the test's own. RabbitMQ 3.10 records a new quorum queue's
Ra server in its registry on disk ~1 s after answering the declare; a node killed in
between comes back with the queue in its metadata and nothing behind it. Its consumer says
so, in an ERROR naming the queue and the runbook; the runbook's remedy (delete the queue)
brings it back: the consumer declares it afresh and applies what is published to it.

The node comes back with a 10 s Erlang tick: a consume of the lost queue then fails after
15 s (net_ticktime + 5 s, rabbit_fifo_client) instead of 65 s; what the consumer does with
the failure is the same."""
import logging
import threading
import uuid
from dataclasses import replace

import pytest
from kombu import Connection

from shared.config import Settings
from shared.messaging import topology
from shared.messaging.envelope import new_envelope
from shared.worker import run_threads
from tests import fakeservice
from tests.support import publish_events, wait_for

pytestmark = pytest.mark.integration
SCHOOL = "00000000-0000-4000-8000-0000000000fd"


def test_a_queue_lost_in_a_broker_crash_is_named_and_comes_back_once_deleted(
        own_broker, new_database, caplog):
    settings = replace(Settings.from_env({}), broker_url=own_broker.url,
                       exchange="pp.lost", queue_prefix="lost.", max_attempts=3)
    lost = topology.service_queue(settings, "reports", "data")
    with Connection(own_broker.url) as conn:
        lost(conn.channel()).declare()
    assert not own_broker.quorum_queues_on_disk()  # killed within the window:
    own_broker.kill(settled=False)
    own_broker.net_ticktime = 10
    own_broker.start()

    caplog.set_level(logging.ERROR, logger="shared.messaging.consumer")
    consumer = fakeservice.runtime(
        fakeservice.make_spec("reports", {"ParentVerified": fakeservice.record_effect}),
        settings, new_database("reports"))
    stop = threading.Event()
    threads = run_threads([loop for loop in consumer.build_workers()
                           if not loop[0].endswith("relay")], stop)
    try:
        wait_for(lambda: any(r.levelno == logging.ERROR and f"queue={lost.name} " in
                             r.getMessage() and "docs/operations.md" in r.getMessage()
                             for r in caplog.records),
                 timeout=180, interval=0.5, message="the consumer naming its lost queue")
        assert fakeservice.count(consumer, "effects") == 0

        own_broker.ctl("delete_queue", lost.name)  # the runbook
        wait_for(lambda: all(w.connected.is_set() for w in consumer.queue_workers),
                 timeout=120, interval=0.2, message="the consumers back on their queues")
        event = new_envelope("ParentVerified", {
            "link_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4()),
            "guardian_id": str(uuid.uuid4()), "student_id": str(uuid.uuid4()),
            "record_version": 1}, producer="linking", school_id=SCHOOL)
        publish_events(settings, event)
        wait_for(lambda: fakeservice.count(consumer, "effects", "event_id = :e",
                                           e=event.id) == 1,
                 timeout=60, interval=0.2, message="the event applied from the new queue")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        consumer.engine.dispose()
