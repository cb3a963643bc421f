"""Publishing to the broker with publisher confirms.

`publish` waits for the broker's confirm of one message. `publish_many` keeps a window of
confirms outstanding: it goes on publishing while earlier messages await their basic.ack,
and reports which were confirmed as the acks arrive. kombu's own confirm mode waits after
every publish, so the window uses the py-amqp channel under kombu's connection directly
(confirm.select, and the channel's basic_ack / basic_nack / basic_return callbacks): the
same client, connection settings and topology code, no second AMQP library or I/O loop.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Sequence

import amqp
from kombu import Connection

from shared.config import Settings

from . import topology

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT = 10.0  # seconds to wait for the broker's confirm before giving up
BROKER_REPLY_TIMEOUT = 20.0  # seconds to wait for the reply to any other method
NACKED = "nacked by the broker"


def broker_connection(url: str, *, confirm: bool = False, name: str | None = None,
                      heartbeat: int = 30) -> Connection:
    """A kombu connection; `name` shows in the broker's connection list (ops, tests).

    `url` may name every node of a cluster, `;`-separated (PP_BROKER_URL): kombu fails over
    to the next node when one does not answer (see connect)."""
    options: dict[str, Any] = {}
    if name and url.startswith("amqp"):
        options["client_properties"] = {"connection_name": name}
    if url.startswith("memory://"):
        options["polling_interval"] = 0.02  # the embedded broker: low latency, in-process
    else:
        # A broker that never answers a method (a queue declare on a quorum queue left
        # half-recovered after a crash) must not hang a consumer or relay for ever: the
        # wait fails, and the caller reconnects and tries again. Reads with their own
        # timeout (drain_events) are not affected.
        options["read_timeout"] = BROKER_REPLY_TIMEOUT
        if confirm:
            options["confirm_publish"] = True
    return Connection(url, heartbeat=heartbeat if url.startswith("amqp") else 0,
                      transport_options=options, connect_timeout=5)


def connect(conn: Connection, timeout: float = 5) -> Connection:
    """Connect to the first node that answers: with a cluster's nodes, one try of each in
    order, without pause (`timeout` per node); with one URL, two tries, as before."""
    nodes = len(conn.alt) if conn.alt else 1
    conn.ensure_connection(max_retries=max(1, nodes - 1), timeout=timeout * nodes)
    return conn


class Message(NamedTuple):
    """One message to publish: where it goes, its body, and its id (the broker's confirm
    and a failure are told by it)."""
    routing_key: str
    body: str
    message_id: str


@dataclass
class PublishResult:
    """What became of a run of messages: the ids the broker confirmed (in publish order)
    and, for each failed one, why. Messages in neither were not published."""
    confirmed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def _error_text(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:400] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class PublishFailed(RuntimeError):
    """The broker did not confirm a message (returned, nacked, or the connection failed)."""


class BrokerPublisher:
    """Publishes with publisher confirms on one connection, reconnecting after a failure.

    Not thread-safe by design: each relay owns one. A failure (a lost connection, a
    missing confirm, a nack) closes the connection; the next publish reconnects, to the
    first node of a cluster that answers, and re-declares the topology.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self._conn: Connection | None = None
        self._channel: Any = None  # py-amqp channel in confirm mode (amqp:// only)
        self._producer: Any = None  # kombu producer (the embedded memory:// broker)
        self._next_tag = 0
        self._outstanding: dict[int, str] = {}
        self._lock = threading.Lock()
        self._amqp = settings.broker_url.startswith("amqp")
        # A message no queue takes comes back (basic.return): never marked sent.
        self._mandatory = self._amqp
        self.connects = 0  # connections opened: more than one means it reconnected

    def _connect(self) -> Connection:
        # No heartbeats: nothing services them between publishes, and an idle relay would
        # otherwise find its connection closed by the broker.
        conn = broker_connection(self.settings.broker_url, heartbeat=0,
                                 name=f"{self.settings.queue_prefix}publisher")
        connect(conn)
        channel = conn.channel()
        topology.declare_topology(channel, self.settings)
        self._conn = conn
        self.connects += 1
        if self._amqp:
            channel.confirm_select()
            self._channel, self._next_tag = channel, 0  # tags count from 1 per channel
        else:
            self._producer = conn.Producer(channel=channel,
                                           exchange=topology.exchange(self.settings))
        return conn

    def publish(self, routing_key: str, body: str, message_id: str) -> None:
        """Publish one message and return once the broker has confirmed it."""
        result = self.publish_many([Message(routing_key, body, message_id)], window=1)
        if message_id not in result.confirmed:
            raise PublishFailed(result.failed.get(message_id, "not confirmed"))

    def publish_many(self, messages: Sequence[Message],
                     window: int = 256) -> PublishResult:
        """Publish the messages in order, with up to `window` confirms
        outstanding. A message the broker returns (no queue takes it) or nacks is failed;
        a lost connection fails what was awaiting its confirm and stops the run."""
        with self._lock:
            result = PublishResult()
            try:
                conn = self._conn if self._conn is not None else self._connect()
                if not self._amqp:
                    for message in messages:
                        self._producer.publish(
                            message.body, routing_key=message.routing_key,
                            content_type="application/json", content_encoding="utf-8",
                            delivery_mode=2, message_id=message.message_id, retry=False)
                        result.confirmed.append(message.message_id)
                    return result
                self._publish_windowed(conn, messages, max(1, window), result)
            except Exception as exc:
                reason = _error_text(exc)
                unsettled = [m.message_id for m in messages if m.message_id not in
                             result.failed and m.message_id not in result.confirmed]
                if unsettled:  # at least the one being published fails; the rest waits
                    result.failed[unsettled[0]] = reason
                for message_id in self._outstanding.values():
                    result.failed[message_id] = reason
                self.close()
            return result

    def _publish_windowed(self, conn: Connection, messages: Sequence[Message],
                          window: int, result: PublishResult) -> None:
        outstanding: dict[int, str] = {}  # delivery tag -> message id
        self._outstanding = outstanding
        returned: dict[str, str] = {}

        def settle(tag: int, multiple: bool, ok: bool) -> None:
            for done in sorted(t for t in outstanding if t <= tag) if multiple else [tag]:
                message_id = outstanding.pop(done, None)
                if message_id is None:
                    continue
                if message_id in returned:  # basic.return comes before its ack
                    result.failed[message_id] = returned.pop(message_id)
                elif ok:
                    result.confirmed.append(message_id)
                else:
                    result.failed[message_id] = NACKED

        def on_return(exc: Exception, exchange: str, routing_key: str,
                      message: amqp.Message) -> None:
            returned[message.properties.get("message_id")] = _error_text(exc)

        channel = self._channel
        callbacks = {"basic_ack": lambda tag, multiple: settle(tag, multiple, True),
                     "basic_nack": lambda tag, multiple: settle(tag, multiple, False),
                     "basic_return": on_return}
        for event, callback in callbacks.items():
            channel.events[event].add(callback)
        try:
            for message in messages:
                while len(outstanding) >= window:
                    conn.drain_events(timeout=CONFIRM_TIMEOUT)
                self._next_tag += 1
                outstanding[self._next_tag] = message.message_id
                channel.basic_publish(amqp.Message(
                    message.body, content_type="application/json", content_encoding="utf-8",
                    delivery_mode=2, message_id=message.message_id),
                    exchange=self.settings.exchange, routing_key=message.routing_key,
                    mandatory=self._mandatory)
            while outstanding:
                conn.drain_events(timeout=CONFIRM_TIMEOUT)
        finally:
            for event, callback in callbacks.items():
                channel.events[event].discard(callback)
        if NACKED in result.failed.values():
            # A nack is the broker giving up on a message (a quorum queue that lost its
            # leader with its node): the node may be going or gone, so the next publish
            # connects afresh, to whichever node answers, rather than reuse a channel on it.
            self.close()

    def close(self) -> None:
        conn, self._conn, self._producer, self._channel = self._conn, None, None, None
        self._outstanding = {}
        if conn is not None:
            try:
                conn.release()
            except Exception:  # already broken: nothing more to release
                log.debug("closing a broken broker connection failed", exc_info=True)
