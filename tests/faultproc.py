"""Producer and consumer processes of the test service that die at a chosen point, for the
crash-point tests (tests/integration/test_crash_points_real.py).

    python -m tests.faultproc produce DATABASE_URL TOTAL [--crash after_commit:K|after_publish:K]
    python -m tests.faultproc consume DATABASE_URL [--crash after_commit:K]

Broker names come from PP_BROKER_URL / PP_EXCHANGE / PP_QUEUE_PREFIX. A crash is
`os._exit(CRASHED)`: no cleanup, no ack, no commit, exactly as a SIGKILL would leave things.
The event at the crash point is printed first (`crashed event_id=...`) for the test to check.

The producer writes event i (0 <= i < TOTAL) in its own transaction, as a web request would,
resuming from what earlier runs committed, and runs the relay after every few commits.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import threading
import uuid
from dataclasses import replace

import sqlalchemy as sa

from shared.config import Settings
from shared.messaging.consumer import APPLIED, DUPLICATE
from shared.messaging.publisher import BrokerPublisher
from shared.messaging.relay import OutboxRelay
from shared.service import ServiceRuntime
from shared.worker import run_threads
from tests import fakeservice

CRASHED = 137
SCHOOL = "00000000-0000-4000-8000-0000000000fa"
STUDENTS = uuid.UUID("00000000-0000-4000-8000-0000000000fb")


def student_for(i: int) -> str:
    return str(uuid.uuid5(STUDENTS, str(i)))


def crash(event_id: str, unacked: int = 1) -> None:
    print(f"crashed event_id={event_id}", f"unacked={unacked}", sep="\n", flush=True)
    os._exit(CRASHED)


class CrashAfter:
    """Counts events passing a point; the K-th one crashes the process there."""

    def __init__(self, spec: str | None, point: str):
        name, _, k = (spec or "").partition(":")
        self.k = int(k) if name == point else 0
        self.seen = 0

    def passed(self, event_id: str, unacked: int = 1) -> None:
        self.seen += 1
        if self.seen == self.k:
            crash(event_id, unacked)


def runtime(service: str, url: str, handlers=None) -> ServiceRuntime:
    settings = Settings.from_env()
    settings = replace(settings, database_urls={**settings.database_urls, service: url})
    rt = ServiceRuntime(fakeservice.make_spec(service, handlers), settings)
    rt.start()
    return rt


def produce(url: str, total: int, crash_spec: str | None) -> None:
    rt = runtime("linking", url)
    after_commit = CrashAfter(crash_spec, "after_commit")
    after_publish = CrashAfter(crash_spec, "after_publish")
    publisher = BrokerPublisher(rt.settings)
    publish_many = publisher.publish_many

    def publish_then_maybe_crash(messages, window=256):
        result = publish_many(messages, window)
        for message_id in result.confirmed:  # confirmed by the broker, not yet marked sent
            after_publish.passed(message_id)
        return result
    publisher.publish_many = publish_then_maybe_crash
    relay = OutboxRelay(rt.engine, rt.spec.tables, publisher, batch_size=20)
    outbox = rt.context.outbox
    with rt.engine.connect() as conn:
        done = conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one()
    rng = random.Random()
    while done < total:
        for _ in range(min(rng.randint(1, 4), total - done)):
            with rt.context.sessions() as session, session.begin():
                envelope = outbox.add(session, "ParentVerified", {
                    "link_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4()),
                    "guardian_id": str(uuid.uuid4()), "student_id": student_for(done),
                    "record_version": 1}, school_id=SCHOOL)
            done += 1
            after_commit.passed(envelope.id)  # committed, not yet published
        relay.publish_batch()
    while relay.pending():
        relay.publish_batch()
    publisher.close()
    print("produced", flush=True)


def consume(url: str, crash_spec: str | None) -> None:
    rt = runtime("reports", url, {"ParentVerified": fakeservice.record_effect})
    after_commit = CrashAfter(crash_spec, "after_commit")
    loops = rt.build_workers()
    for worker in rt.queue_workers:
        process_batch = worker.processor.process_batch

        def process_then_maybe_crash(bodies, process_batch=process_batch):
            outcomes = process_batch(bodies)
            # The batch's writes are committed; none of its acks is sent. The test checks
            # that every delivery of the batch comes back: `unacked=` counts those whose
            # event is applied (now or by an earlier run).
            unacked = sum(o in (APPLIED, DUPLICATE) for o in outcomes)
            for body, outcome in zip(bodies, outcomes):
                if outcome == APPLIED:
                    after_commit.passed(body_id(body), unacked)
            return outcomes
        worker.processor.process_batch = process_then_maybe_crash
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threads = run_threads(loops, stop)
    stop.wait()
    for thread in threads:
        thread.join(timeout=10)


def body_id(body) -> str:
    return (body if isinstance(body, dict) else json.loads(body))["id"]


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["produce", "consume"])
    parser.add_argument("url")
    parser.add_argument("total", nargs="?", type=int, default=0)
    parser.add_argument("--crash")
    args = parser.parse_args()
    if args.role == "produce":
        produce(args.url, args.total, args.crash)
    else:
        consume(args.url, args.crash)
