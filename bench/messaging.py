"""Events per second through the messaging spine, beside bare kombu, in the same run.

    make bench            (or: .venv/bin/python -m bench.messaging --events 5000)

Uses PP_TEST_AMQP_URL / PP_TEST_DATABASE_URL (defaults: the local RabbitMQ and
PostgreSQL). Every path carries the same envelopes to a quorum queue; each run gets its
own exchange, queues and databases and removes them. The machine is shared and noisy, so
read the ratio, not the absolute numbers.

  bare kombu            publish (no confirms, persistent) -> consume + ack; no database
  bare kombu, confirms  publish waiting for each confirm  -> consume + ack; no database
  naive pipeline        outbox insert (PostgreSQL commit) -> relay waiting for each confirm,
                        a message per event -> broker -> consumer committing each event
                        (inbox + handler) -> ack
  pipeline              the same with the relay's window of outstanding confirms
                        (PP_PUBLISH_WINDOW) and packs (PP_RELAY_PACK), and the consumer's
                        batches (PP_CONSUMER_BATCH)

Both pipelines write the outbox rows `--per-transaction` at a time (default 500, as an
ingest batch writes them) and are durable on both ends.
"""
from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from dataclasses import replace

import sqlalchemy as sa
from kombu import Connection, Consumer, Exchange, Queue

from bench.common import Figure, table
from shared.config import Settings
from shared.messaging.envelope import new_envelope
from shared.messaging.publisher import broker_connection
from shared.worker import run_threads
from tests import fakeservice

AMQP = os.environ.get("PP_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
DATABASE = os.environ.get("PP_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SCHOOL = "00000000-0000-4000-8000-0000000000be"


def payload() -> dict:
    return {"link_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4()),
            "guardian_id": str(uuid.uuid4()), "student_id": str(uuid.uuid4()),
            "record_version": 1}


def bare_kombu(bodies: list[str], tag: str, confirms: bool) -> float:
    """Seconds from the first publish to the last ack, publisher and consumer concurrent."""
    exchange = Exchange(f"bench.{tag}", type="topic", durable=True)
    queue = Queue(f"bench.{tag}.q", exchange, routing_key="#", durable=True,
                  queue_arguments={"x-queue-type": "quorum"})
    done = threading.Event()
    received = 0

    def on_message(message):
        nonlocal received
        message.ack()
        received += 1
        if received == len(bodies):
            done.set()

    with Connection(AMQP) as setup:
        queue(setup.channel()).declare()
    consumer_conn = Connection(AMQP)
    consumer = Consumer(consumer_conn.channel(), queues=[queue], on_message=on_message,
                        prefetch_count=50)
    consumer.consume()

    def drain():
        while not done.is_set():
            try:
                consumer_conn.drain_events(timeout=0.2)
            except TimeoutError:
                pass
    reader = threading.Thread(target=drain)
    reader.start()
    publish_conn = broker_connection(AMQP, confirm=confirms)
    producer = publish_conn.Producer(exchange=exchange)
    start = time.perf_counter()
    for body in bodies:
        producer.publish(body, routing_key="bench", content_type="application/json",
                         delivery_mode=2)
    done.wait(600)
    elapsed = time.perf_counter() - start
    reader.join()
    consumer.cancel()
    with Connection(AMQP) as cleanup:
        channel = cleanup.channel()
        channel.queue_delete(queue.name)
        channel.exchange_delete(exchange.name)
    publish_conn.release()
    consumer_conn.release()
    return elapsed


def outbox_pipeline(envelopes, tag: str, per_transaction: int, *, window: int,
                    batch: int, pack: int) -> float:
    """Seconds from the first outbox insert to the consumer's commit of the last event."""
    settings = replace(Settings.from_env({}), broker_url=AMQP, exchange=f"pp.bench.{tag}",
                       queue_prefix=f"bench.{tag}.", publish_window=window,
                       consumer_batch=batch, relay_pack=pack, log_level="WARNING")
    databases = [f"pp_bench_{tag}_{name}" for name in ("linking", "reports")]
    urls = _create_databases(databases)
    try:
        producer = fakeservice.runtime(fakeservice.make_spec("linking"), settings, urls[0])
        consumer = fakeservice.runtime(
            fakeservice.make_spec("reports", {"ParentVerified": fakeservice.record_effect}),
            settings, urls[1])
        stop = threading.Event()
        threads = run_threads([*producer.build_workers(), *consumer.build_workers()], stop)
        try:
            return _through(producer, consumer, envelopes, per_transaction)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=15)
            producer.engine.dispose()
            consumer.engine.dispose()
    finally:
        _remove_broker_objects(settings)
        _drop_databases(databases)


def _through(producer, consumer, envelopes, per_transaction: int) -> float:
    """Once the consumer is connected: seconds from writing the envelopes to the
    producer's outbox, `per_transaction` a commit, until the consumer has applied all."""
    while not all(w.connected.is_set() for w in consumer.queue_workers):
        time.sleep(0.01)
    start = time.perf_counter()
    for i in range(0, len(envelopes), per_transaction):
        with producer.context.sessions() as session, session.begin():
            producer.context.outbox.add_many(session, envelopes[i:i + per_transaction])
        producer.relay.wakeup.set()
    while fakeservice.count(consumer, "effects") < len(envelopes):
        time.sleep(0.02)
    return time.perf_counter() - start


def _create_databases(names: list[str]) -> list[str]:
    """New PostgreSQL databases of these names: their SQLAlchemy URLs."""
    admin = sa.create_engine(_sqlalchemy_url(DATABASE), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return [sa.make_url(_sqlalchemy_url(DATABASE)).set(database=name)
            .render_as_string(hide_password=False) for name in names]


def _drop_databases(names: list[str]) -> None:
    admin = sa.create_engine(_sqlalchemy_url(DATABASE), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _remove_broker_objects(settings: Settings) -> None:
    """The run's queues and exchange."""
    from shared.messaging import topology
    with Connection(AMQP) as cleanup:
        channel = cleanup.channel()
        for queue in topology.all_queues(settings):
            channel.queue_delete(queue.name)
        channel.exchange_delete(settings.exchange)


def _sqlalchemy_url(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def figures(quick: bool = False, events: int | None = None,
            per_transaction: int = 500) -> list[Figure]:
    count = events or (1000 if quick else 5000)
    tag = uuid.uuid4().hex[:8]
    envelopes = [new_envelope("ParentVerified", payload(), producer="linking",
                              school_id=SCHOOL) for _ in range(count)]
    bodies = [e.to_json() for e in envelopes]
    bare = count / bare_kombu(bodies, tag + "a", False)
    confirms = count / bare_kombu(bodies, tag + "b", True)
    naive = count / outbox_pipeline(envelopes[:count], tag + "n", per_transaction,
                                    window=1, batch=1, pack=1)
    envelopes = [new_envelope("ParentVerified", payload(), producer="linking",
                              school_id=SCHOOL) for _ in range(count)]
    defaults = Settings.from_env({})
    batched = count / outbox_pipeline(envelopes, tag + "p", per_transaction,
                                      window=defaults.publish_window,
                                      batch=defaults.consumer_batch,
                                      pack=defaults.relay_pack)
    group = "messaging"
    return [
        Figure(group, "bare kombu, a confirm per publish -> consume (no database)", confirms,
               "events/s", "bare kombu publish -> consume", bare),
        Figure(group, "naive pipeline: confirm per publish, commit per event", naive,
               "events/s", "bare kombu publish -> consume", bare),
        Figure(group, f"pipeline: window {defaults.publish_window} confirms, packs of "
               f"{defaults.relay_pack}, batches of {defaults.consumer_batch}", batched,
               "events/s", "naive pipeline", naive, target=6.0),
        Figure(group, "pipeline (the same run)", batched, "events/s",
               "bare kombu publish -> consume", bare, target=0.5),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--per-transaction", type=int, default=500,
                        help="events written per outbox transaction (default 500)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(table(figures(args.quick, args.events, args.per_transaction)))


if __name__ == "__main__":
    main()
