"""Helpers for tests: wait on a condition with a deadline (never a bare sleep)."""
from __future__ import annotations

import email
import threading
import time
from typing import Callable, TypeVar

from shared.messaging.publisher import PublishResult

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 20.0, interval: float = 0.05,
             message: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def waiting_on_a_lock(engine) -> bool:
    """Whether a transaction in the engine's PostgreSQL database waits on a lock (a race
    test's sign that the second side is held back by the first)."""
    import sqlalchemy as sa
    with engine.connect() as conn:
        return bool(conn.execute(sa.text(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE NOT l.granted AND a.datname = current_database()")).scalar())


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """A local SMTP server collecting every message it accepts."""

    def __init__(self):
        self.port = free_port()
        self.messages: list[email.message.Message] = []
        self.lock = threading.Lock()
        self.controller = None

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def start(self):
        from aiosmtpd.controller import Controller
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    @staticmethod
    def text(message) -> str:
        return "".join(part.get_payload(decode=True).decode() for part in message.walk()
                       if part.get_content_maintype() == "text")


def http_from(source: str, method: str, url: str, body: dict | None = None,
              headers: dict | None = None) -> tuple[int, dict | None]:
    """One request from a given local source address (127.0.0.2 is a second client on
    this machine): (status, the JSON body or None)."""
    import http.client
    import json
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30,
                                      source_address=(source, 0))
    try:
        payload = json.dumps(body).encode() if body is not None else None
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""),
                     body=payload, headers={"Content-Type": "application/json",
                                            **(headers or {})})
        answer = conn.getresponse()
        raw = answer.read()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:  # nginx's own pages are HTML
            data = None
        return answer.status, data
    finally:
        conn.close()


def queue_counts(amqp_url: str, queue: str) -> tuple[int, int]:
    """(ready messages, consumers) of a queue; (0, 0) while it does not exist yet."""
    from kombu import Connection
    with Connection(amqp_url) as conn:
        try:
            _, ready, consumers = conn.channel().queue_declare(queue, passive=True)
        except Exception:
            return 0, 0
    return ready, consumers


def terminate(processes, timeout: float = 30) -> None:
    """SIGTERM every process, then wait for each (killing any that overstays)."""
    import signal
    import subprocess
    for proc in processes:
        proc.send_signal(signal.SIGTERM)
    for proc in processes:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


class EventTap:
    """A queue of the test's own on the test's exchange, catching events by routing key,
    so a test can wait for the event a service published (never a sleep)."""

    def __init__(self, settings, *binding_keys: str, name: str = "tap"):
        import uuid

        from tests.conftest import register_queue
        self.settings, self.binding_keys = settings, binding_keys or ("#",)
        self.queue_name = f"{settings.queue_prefix}{name}.{uuid.uuid4().hex[:6]}"
        register_queue(settings, self.queue_name)
        self.seen: list[dict] = []
        self.conn = None
        self._connect()

    def _connect(self) -> None:
        """(Re)connect: durable, so what arrives while the tap is away (a broker killed and
        restarted under a test) waits for it."""
        from kombu import Connection, Exchange, Queue
        if self.conn is not None:
            try:
                self.conn.release()
            except Exception:
                pass
        exchange = Exchange(self.settings.exchange, type="topic", durable=True)
        self.conn = Connection(self.settings.broker_url)
        self.channel = self.conn.channel()
        exchange(self.channel).declare()
        self.queue = Queue(self.queue_name, exchange=exchange, bindings=None,
                           durable=True, auto_delete=False)(self.channel)
        self.queue.declare()
        for key in self.binding_keys:
            self.queue.bind_to(exchange=self.settings.exchange, routing_key=key)

    def _drain(self) -> None:
        try:
            while True:
                message = self.queue.get(no_ack=True)
                if message is None:
                    return
                self.seen.extend(envelopes_of(message.body))
        except Exception:  # the broker went away: reconnect on the next look
            try:
                self._connect()
            except Exception:
                self.conn = None

    def wait(self, event_type: str, where=lambda data: True, timeout: float = 30.0) -> dict:
        """The first event of this type (matching `where` on its data) seen so far or
        arriving before the deadline."""
        def find():
            self._drain()
            return next((e for e in self.seen if e["type"] == event_type and where(e["data"])),
                        None)
        return wait_for(find, timeout=timeout, message=f"{event_type} on the broker")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.release()


def publish_events(settings, *events, copies: int = 1) -> None:
    """Publish events (envelopes, or their wire form as a tap saw them) on the test's
    exchange as their producer's relay would, each `copies` times (a redelivery); confirmed,
    as a relay's are (unconfirmed ones still in flight at the close may be dropped): all
    are published, then every broker confirm awaited, as a batch (a round trip each would
    cost a quorum queue's disk sync per message: 20 s for a backlog of 10,000)."""
    import json

    from kombu import Connection, Exchange

    from shared.contracts import snake
    with Connection(settings.broker_url) as conn:
        channel = conn.channel()
        confirms = _Confirms(channel) if settings.broker_url.startswith("amqp") else None
        producer = conn.Producer(channel, exchange=Exchange(settings.exchange, type="topic"))
        for event in events:
            wire = event if isinstance(event, dict) else event.to_wire()
            for _ in range(copies):
                producer.publish(json.dumps(wire), content_type="application/json",
                                 routing_key=f"{wire['producer']}.{snake(wire['type'])}",
                                 delivery_mode=2)
                if confirms:
                    confirms.sent()
        while confirms and confirms.unconfirmed:
            conn.drain_events(timeout=30)


class _Confirms:
    """Publisher confirms on a py-amqp channel: the delivery tags not yet confirmed (a
    broker's nack fails the test)."""

    def __init__(self, channel) -> None:
        self.published = 0
        self.unconfirmed: set[int] = set()
        channel.confirm_select()
        channel.events["basic_ack"].add(self._ack)
        channel.events["basic_nack"].add(self._nack)

    def sent(self) -> None:
        self.published += 1
        self.unconfirmed.add(self.published)

    def _ack(self, tag: int, multiple: bool) -> None:
        done = [t for t in self.unconfirmed if t <= tag] if multiple else [tag]
        self.unconfirmed.difference_update(done)

    def _nack(self, tag: int, multiple: bool) -> None:
        raise AssertionError(f"the broker refused published message {tag}")


class OneByOnePublisher:
    """A relay's publisher for unit tests: `publish_many` is a window of one over the
    test's own `publish`, stopping at the first message it refuses (raises)."""

    def publish(self, routing_key: str, body: str, message_id: str) -> None:
        raise NotImplementedError

    def publish_many(self, messages, window: int = 1) -> PublishResult:
        result = PublishResult()
        for routing_key, body, message_id in messages:
            try:
                self.publish(routing_key, body, message_id)
            except Exception as exc:
                result.failed[message_id] = f"{type(exc).__name__}: {exc}"
                break
            result.confirmed.append(message_id)
        return result

    def close(self) -> None:
        pass


class NullPublisher(OneByOnePublisher):
    """Stands in for RabbitMQ under a relay in unit tests: takes every message."""

    def publish(self, *args) -> None:
        pass

    def close(self) -> None:
        pass


def envelopes_of(body) -> list[dict]:
    """The envelopes a broker message carries: one, or a relay's pack of them."""
    import json

    from shared.messaging.queue_worker import unpack
    return [e if isinstance(e, dict) else json.loads(e) for e in unpack(body)]


_RESULT_ITEMS = {"attainment": "AttainmentRecorded", "characteristics": "CharacteristicRecorded"}


def ungathered(envelopes: list[dict]) -> list[dict]:
    """Envelopes with each ResultsRecorded (ingest gathers a student's results) spread back
    into the AttainmentRecorded and CharacteristicRecorded it carries, in its place."""
    spread = []
    for envelope in envelopes:
        if envelope["type"] != "ResultsRecorded":
            spread.append(envelope)
            continue
        data = envelope["data"]
        for key, event_type in _RESULT_ITEMS.items():
            spread += [{**envelope, "type": event_type,
                        "data": {**item, "student_id": data["student_id"]}}
                       for item in data.get(key, [])]
    return spread
