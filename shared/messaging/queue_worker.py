"""A service's queue consumer: takes deliveries from one queue in batches, hands them to
the DeliveryProcessor (shared/messaging/consumer.py), acks what was applied or recorded
and hands back what is to be retried; reconnects and resumes after a lost connection."""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

from kombu import Connection, Consumer, Queue
from kombu.message import Message

from shared import metrics
from shared.backoff import RECONNECT, Backoff
from shared.config import Settings

from . import topology
from .consumer import APPLIED, DEAD_LETTERED, RETRY, Body, DeliveryProcessor
from .publisher import broker_connection, connect

log = logging.getLogger(__name__)

# Deliveries a handler failed on go back after a pause, so that a failing handler does
# not spin.
HANDLER_RETRY = Backoff(base=0.1, cap=2.0)
# Seconds between two prunings of the inbox by one worker (the first soon after start).
PRUNE_EVERY = 3600.0


def _count(service: str, queue: str, outcome: str) -> None:
    if outcome == RETRY:
        metrics.FAILED.labels(service, queue).inc()
    elif outcome == DEAD_LETTERED:
        metrics.DEAD_LETTERED.labels(service, queue).inc()
    else:
        metrics.CONSUMED.labels(service, queue, outcome).inc()


def unpack(body: bytes | str) -> list[Body]:
    """A delivery's events: a packed message (see OutboxRelay) is a JSON array of
    envelopes, each applied as its own event; anything else is one delivery as it is."""
    if body[:1] not in (b"[", "["):
        return [body]
    try:
        events = json.loads(body)
    except (ValueError, RecursionError):
        return [body]  # dead-lettered as undecodable, with the reason
    if isinstance(events, list) and events and all(isinstance(e, dict) for e in events):
        return events
    return [body]


@dataclass
class _Received:
    """A message taken from the queue and not yet acked, with the events it carries."""
    message: Message
    events: list[Body]


class QueueWorker:
    """Consumes one of a service's queues in batches; reconnects and resumes after a lost
    connection. A batch is applied once `batch_size` deliveries are waiting or the queue
    has nothing more to give at once, or `batch_bytes` of messages are waiting, whichever
    comes first."""

    def __init__(self, settings: Settings, processor: DeliveryProcessor, queue: Queue,
                 applied: Callable[[], object] = lambda: None):
        self.settings = settings
        self.processor = processor
        self.queue = queue
        # Called once a batch applied an event (its effects committed): the worker's relay
        # is woken, so the events the batch wrote to the outbox go out now, not at its
        # next idle poll (issue 27: a hop of onboarding's chain).
        self.applied = applied
        self.batch_size = max(1, settings.consumer_batch)
        self.batch_bytes = max(1, settings.consumer_batch_bytes)
        self.connected = threading.Event()
        self.idle = threading.Event()
        self._next_prune = 0.0
        self.reconnects = 0  # connections re-established after a loss (ops, tests)
        self._stop: threading.Event | None = None
        self._pending: list[_Received] = []
        self._pending_events = 0
        self._pending_bytes = 0
        # kombu's in-memory transport acks one delivery per call, whatever `multiple` says.
        self._amqp = settings.broker_url.startswith("amqp")

    def _on_message(self, message: Message) -> None:
        self.idle.clear()
        events = unpack(message.body)
        self._pending.append(_Received(message, events))
        self._pending_events += len(events)
        self._pending_bytes += len(message.body)

    def _apply_pending(self) -> None:
        pending, self._pending, self._pending_events = self._pending, [], 0
        self._pending_bytes = 0
        outcomes = self.processor.process_batch(
            [event for received in pending for event in received.events])
        for outcome in outcomes:
            _count(self.processor.service, self.queue.name, outcome)
        retry = self._to_retry(pending, outcomes)
        self._ack_all_but(pending, retry)
        if APPLIED in outcomes:
            self.applied()
        if retry:
            # Back off a little so a failing handler does not spin, then hand them back.
            assert self._stop is not None  # set by run(), which alone applies batches
            self._stop.wait(HANDLER_RETRY.seconds(1))
            for received in retry:
                received.message.requeue()

    @staticmethod
    def _to_retry(pending: list[_Received], outcomes: list[str]) -> list[_Received]:
        """The messages to hand back: those with an event to be retried (their other
        events are duplicates when it comes again)."""
        owners = [received for received in pending for _ in received.events]
        retry = {id(owner) for owner, outcome in zip(owners, outcomes) if outcome == RETRY}
        return [received for received in pending if id(received) in retry]

    def _ack_all_but(self, pending: list[_Received], retry: list[_Received]) -> None:
        """Ack every message not to be retried, only after the commit that applied (or
        recorded) its events."""
        if not retry and len(pending) > 1 and self._amqp:
            # Every delivery since the last ack is in this batch: one frame acks them all.
            pending[-1].message.ack(multiple=True)
            return
        kept = {id(received) for received in retry}
        for received in pending:
            if id(received) not in kept:
                received.message.ack()

    def run(self, stop: threading.Event) -> None:
        self._stop = stop
        failures = 0
        # Enough prefetched that the next batch is already here while one is applied
        # (bounded: a packed message holds many events).
        prefetch = max(self.settings.prefetch, min(2 * self.batch_size, 256))
        while not stop.is_set():
            conn = broker_connection(self.settings.broker_url, name=self.queue.name)
            self._pending, self._pending_events = [], 0  # unacked ones come again
            self._pending_bytes = 0
            on_queue = False  # between the broker answering and the consumer on its queue
            try:
                connect(conn)
                on_queue = True
                channel = conn.channel()
                topology.declare_topology(channel, self.settings, extra=[self.queue])
                consumer = Consumer(channel, queues=[self.queue], no_ack=False,
                                    on_message=self._on_message, prefetch_count=prefetch)
                with consumer:
                    on_queue = False
                    self.connected.set()
                    if failures:
                        self.reconnects += 1
                        log.info("consumer reconnected queue=%s", self.queue.name)
                    failures = 0
                    self._consume(conn, stop)
            except Exception as exc:  # connection lost, broker restarting, anything: retry
                self.connected.clear()
                failures += 1
                if on_queue:  # not the connection: the queue (or its topology) fails
                    log.error("queue not declared or consumed though the broker answers "
                              "queue=%s failure=%d error=%s: if it goes on, see "
                              "docs/operations.md, 'A queue lost in a broker crash'",
                              self.queue.name, failures, type(exc).__name__)
                log.warning("consumer connection lost queue=%s failure=%d error=%s",
                            self.queue.name, failures, type(exc).__name__,
                            exc_info=not isinstance(exc, (*conn.connection_errors,
                                                          *conn.channel_errors, OSError)))
                stop.wait(RECONNECT.seconds(failures))
            finally:
                try:
                    conn.release()
                except Exception:
                    log.debug("releasing a broken connection failed", exc_info=True)
        self.connected.clear()

    def _prune_inbox_now_and_then(self) -> None:
        """While idle, at most once every PRUNE_EVERY seconds: the inbox forgets what is
        older than its retention (a failure waits for the next time: nothing depends on
        it soon)."""
        now = time.monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY
        try:
            pruned = self.processor.prune_inbox()
        except Exception as exc:
            log.warning("inbox not pruned queue=%s error=%s", self.queue.name,
                        type(exc).__name__)
            return
        if pruned:
            log.info("inbox pruned queue=%s rows=%d", self.queue.name, pruned)

    def _consume(self, conn: Connection, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                # With deliveries waiting, only a moment for more before applying them.
                conn.drain_events(timeout=0.005 if self._pending else 0.25)
            except socket.timeout:
                if self._pending:
                    self._apply_pending()
                else:
                    self.idle.set()
                    conn.heartbeat_check()
                    self._prune_inbox_now_and_then()
                continue
            if (self._pending_events >= self.batch_size
                    or self._pending_bytes >= self.batch_bytes):
                self._apply_pending()
        if self._pending:  # stopping: apply and ack what is here rather than hand it back
            self._apply_pending()
