"""Processes really killed at every point where a message could be lost or applied twice,
on real RabbitMQ and PostgreSQL (issue 3). Each test repeats its crash over several runs
at random points (PP_FAULT_RUNS, default 8; the seed is in the failure message).

    commit ─┬─ publish ─┬─ mark sent          (producer: tests/faultproc.py produce)
            └ crash A   └ crash B
    write+inbox commit ─┬─ ack                (consumer: tests/faultproc.py consume)
                        └ crash C
"""
import os
import random
import subprocess
import sys
import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from shared.messaging.consumer import APPLIED, DUPLICATE
from shared.messaging import topology
from shared.messaging.envelope import new_envelope
from shared.worker import run_threads
from tests import fakeservice
from tests.faultproc import CRASHED, SCHOOL
from tests.support import queue_counts, terminate, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("PP_FAULT_RUNS", "8"))


def process_env(settings) -> dict:
    return {**os.environ, "PP_BROKER_URL": settings.broker_url,
            "PP_EXCHANGE": settings.exchange, "PP_QUEUE_PREFIX": settings.queue_prefix,
            "PP_PREFETCH": "10", "PP_MAX_ATTEMPTS": "3",
            # Batching on, in batches small enough for several crashes in one stream.
            "PP_CONSUMER_BATCH": "8", "PP_PUBLISH_WINDOW": "16"}


STDERR = Path(os.environ.get("TMPDIR", "/tmp")) / f"pp-faultproc-{os.getpid()}.log"


def faultproc(settings, *args: str) -> subprocess.Popen:
    """A fault process; its warnings go to STDERR, whose tail failures show."""
    with open(STDERR, "a") as errors:
        return subprocess.Popen([sys.executable, "-m", "tests.faultproc", *args], cwd=ROOT,
                                env=process_env(settings), stdout=subprocess.PIPE,
                                stderr=errors, text=True)


@pytest.fixture(autouse=True, scope="module")
def _remove_stderr_log():
    yield
    STDERR.unlink(missing_ok=True)


def stderr_tail() -> str:
    return STDERR.read_text()[-3000:] if STDERR.exists() else ""


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str | None]:
    """Wait for a fault process to end; (exit code, event id it crashed at)."""
    rc, crashed, _ = finish_batch(proc, timeout)
    return rc, crashed


def finish_batch(proc: subprocess.Popen, timeout: float = 120):
    """As finish, and how many applied events of its batch were left unacked."""
    out, _ = proc.communicate(timeout=timeout)
    said = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return proc.returncode, said.get("crashed event_id"), int(said.get("unacked", 0))


def rows(url: str, sql: str, **params) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()
    finally:
        engine.dispose()


def create_tables(service: str, url: str) -> None:
    engine = sa.create_engine(url)
    fakeservice.make_spec(service).metadata.create_all(engine)
    engine.dispose()


class CountingConsumer:
    """The consuming service in this process, counting what each delivery did."""

    def __init__(self, settings, url):
        self.outcomes: Counter = Counter()
        self.rt = fakeservice.runtime(
            fakeservice.make_spec("reports", {"ParentVerified": fakeservice.record_effect}),
            settings, url)
        loops = self.rt.build_workers()
        for worker in self.rt.queue_workers:
            process_batch = worker.processor.process_batch

            def counted(bodies, process_batch=process_batch):
                outcomes = process_batch(bodies)
                self.outcomes.update(outcomes)
                return outcomes
            worker.processor.process_batch = counted
        self.stop = threading.Event()
        self.threads = run_threads([loop for loop in loops if not loop[0].endswith("relay")],
                                   self.stop)
        wait_for(lambda: all(w.connected.is_set() for w in self.rt.queue_workers),
                 message="consumer connected")

    def effects(self) -> list[str]:
        with self.rt.engine.connect() as conn:
            return conn.execute(sa.text("SELECT event_id FROM effects")).scalars().all()

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)
        self.rt.engine.dispose()


@pytest.fixture
def consumer(broker_settings, new_database):
    counting = CountingConsumer(broker_settings, new_database("consumer"))
    yield counting
    counting.close()


def outbox_ids(url: str) -> list[str]:
    return [r.event_id for r in rows(url, "SELECT event_id FROM outbox")]


@pytest.mark.parametrize("point", ["after_commit", "after_publish"])
def test_producer_killed_between_commit_publish_and_mark_sent_loses_nothing_applies_once(
        point, broker_settings, new_database, consumer):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    url = new_database("producer")
    create_tables("linking", url)
    total, crashes = 40 + 4 * RUNS, 0
    for _ in range(RUNS):
        rc, crashed = finish(faultproc(broker_settings, "produce", url, str(total),
                                       "--crash", f"{point}:{rng.randint(1, 8)}"))
        if rc == 0:
            break
        assert rc == CRASHED and crashed, f"seed {seed}: producer ended {rc}"
        crashes += 1
        # The process died with the event committed and not marked sent ...
        sent = rows(url, "SELECT sent_at FROM outbox WHERE event_id=:e", e=crashed)
        assert sent and sent[0].sent_at is None, f"seed {seed}"
        if point == "after_publish":  # ... though the broker had confirmed it
            wait_for(lambda: crashed in consumer.effects(), message="confirmed event applied")
    assert crashes >= min(RUNS, 4), f"seed {seed}: crash point rarely reached"
    rc, _ = finish(faultproc(broker_settings, "produce", url, str(total)))  # a relay again
    assert rc == 0

    committed = outbox_ids(url)
    assert len(committed) == total
    wait_for(lambda: len(consumer.effects()) >= total, timeout=60,
             message=f"all events applied (seed {seed})")
    assert sorted(consumer.effects()) == sorted(committed), f"seed {seed}: lost or doubled"
    assert not rows(url, "SELECT event_id FROM outbox WHERE sent_at IS NULL")
    if point == "after_publish":  # every crash left confirmed rows that were sent again
        wait_for(lambda: consumer.outcomes[DUPLICATE] >= crashes,
                 message="re-sent events seen as duplicates")
    assert consumer.outcomes[APPLIED] == total


def test_consumer_killed_between_its_write_and_its_ack_changes_nothing_on_redelivery(
        broker_settings, new_database):
    from kombu import Connection, Exchange
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    url = new_database("consumer")
    create_tables("reports", url)
    queue = f"{broker_settings.queue_prefix}reports.data"
    total = 40 + 12 * RUNS  # a crashed run applies up to a batch (8) past its K-th event
    events = [new_envelope("ParentVerified", {
        "link_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4()),
        "guardian_id": str(uuid.uuid4()), "student_id": str(uuid.uuid4()),
        "record_version": 1}, producer="linking", school_id=SCHOOL) for _ in range(total)]

    # Confirmed, as a relay publishes: without confirms the broker may drop messages still
    # in flight when the connection closes (a few of 136 were, now and then), and the
    # counts below would be off before any crash.
    with Connection(broker_settings.broker_url,
                    transport_options={"confirm_publish": True}) as conn:
        topology.declare_topology(conn.channel(), broker_settings)
        producer = conn.Producer(exchange=Exchange(broker_settings.exchange, type="topic"))
        for event in events:
            producer.publish(event.to_json(), routing_key="linking.parent_verified",
                             content_type="application/json", delivery_mode=2)

    def effects() -> Counter:
        return Counter(r.event_id for r in rows(url, "SELECT event_id FROM effects"))

    crashes = 0
    for _ in range(RUNS):
        remaining = total - len(effects())
        rc, crashed, unacked = finish_batch(faultproc(
            broker_settings, "consume", url, "--crash",
            f"after_commit:{rng.randint(1, min(6, remaining))}"))
        assert rc == CRASHED and crashed and unacked >= 1, f"seed {seed}: consumer ended {rc}"
        crashes += 1
        applied = effects()
        assert applied[crashed] == 1, f"seed {seed}"
        # Its batch's writes are committed, yet all its messages are back in the queue.
        expected, seen = total - len(applied) + unacked, []

        def returned():
            seen.append(queue_counts(broker_settings.broker_url, queue))
            return seen[-1][0] == expected
        try:
            wait_for(returned, message="unacked messages returned to the queue")
        except AssertionError as failed:
            raise AssertionError(f"{failed} (seed {seed}): {expected} ready expected, "
                                 f"last seen (ready, consumers) {seen[-1]}; "
                                 f"{stderr_tail()}") from None
    assert crashes >= min(RUNS, 4), f"seed {seed}"

    last = faultproc(broker_settings, "consume", url)
    try:
        wait_for(lambda: len(effects()) == total and
                 queue_counts(broker_settings.broker_url, queue)[0] == 0, timeout=60,
                 message="everything applied and acked")
    finally:
        terminate([last])
    assert effects() == Counter({e.id: 1 for e in events}), f"seed {seed}: applied twice"


def test_producer_and_consumer_killed_at_random_moments_in_a_stream(broker_settings,
                                                                    new_database):
    """SIGKILL, not a chosen point: whatever either process was doing, 0 lost, 0 twice."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    producer_url, consumer_url = new_database("producer"), new_database("consumer")
    create_tables("linking", producer_url)
    create_tables("reports", consumer_url)
    total = 300 + 25 * RUNS

    def produced() -> int:
        return rows(producer_url, "SELECT count(*) AS n FROM outbox")[0].n

    def applied() -> int:
        return rows(consumer_url, "SELECT count(*) AS n FROM effects")[0].n

    procs = {"produce": faultproc(broker_settings, "produce", producer_url, str(total)),
             "consume": faultproc(broker_settings, "consume", consumer_url)}
    kills = 0
    try:
        for _ in range(RUNS * 2):
            victim = rng.choice(["produce", "consume"])
            progress = produced if victim == "produce" else applied
            target = min(total - 1, progress() + rng.randint(1, total // (RUNS * 2)))
            try:  # kill once it has moved on a random amount: a random point in its work
                wait_for(lambda: progress() >= target or procs[victim].poll() is not None,
                         timeout=60, interval=0.01, message=f"{victim} progress")
            except AssertionError as stuck:
                raise AssertionError(f"seed {seed}: {victim} stuck") from stuck
            if procs[victim].poll() is None:
                procs[victim].kill()
                procs[victim].wait()
                kills += 1
            args = [producer_url, str(total)] if victim == "produce" else [consumer_url]
            procs[victim] = faultproc(broker_settings, victim, *args)
        assert kills >= RUNS, f"seed {seed}: too few kills landed"
        assert finish(procs["produce"])[0] == 0, f"seed {seed}: {stderr_tail()}"
        wait_for(lambda: applied() >= total, timeout=120,
                 message=f"all applied (seed {seed})")
    finally:
        terminate([p for p in procs.values() if p.poll() is None])
    committed = sorted(r.event_id for r in rows(producer_url, "SELECT event_id FROM outbox"))
    effects = sorted(r.event_id for r in rows(consumer_url, "SELECT event_id FROM effects"))
    assert len(committed) == total
    assert effects == committed, f"seed {seed}: lost or applied twice"
