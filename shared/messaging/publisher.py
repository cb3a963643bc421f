"""Publishing to the broker with publisher confirms (kombu; py-amqp waits for each ack)."""
from __future__ import annotations

import logging
import threading

from kombu import Connection

from shared.config import Settings

from . import topology

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT = 10.0  # seconds to wait for the broker's confirm before giving up


def broker_connection(url: str, *, confirm: bool = False, name: str | None = None,
                      heartbeat: int = 30) -> Connection:
    """A kombu connection; `name` shows in the broker's connection list (ops, tests)."""
    options: dict = {}
    if name and url.startswith("amqp"):
        options["client_properties"] = {"connection_name": name}
    if url.startswith("memory://"):
        options["polling_interval"] = 0.02  # the embedded broker: low latency, in-process
    elif confirm:
        options["confirm_publish"] = True
    return Connection(url, heartbeat=heartbeat if url.startswith("amqp") else 0,
                      transport_options=options, connect_timeout=5)


class BrokerPublisher:
    """Publishes one message and returns only once the broker has confirmed it.

    Not thread-safe by design: each relay owns one. A failure closes the connection; the
    next publish reconnects and re-declares the topology.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self._conn: Connection | None = None
        self._producer = None
        self._lock = threading.Lock()
        # A message no queue takes comes back (basic.return) and raises: never marked sent.
        self._mandatory = settings.broker_url.startswith("amqp")
        self.connects = 0  # connections opened: more than one means it reconnected

    def _connect(self):
        # No heartbeats: nothing services them between publishes, and an idle relay would
        # otherwise find its connection closed by the broker.
        conn = broker_connection(self.settings.broker_url, confirm=True, heartbeat=0,
                                 name=f"{self.settings.queue_prefix}publisher")
        conn.ensure_connection(max_retries=1, timeout=5)
        channel = conn.channel()
        topology.declare_topology(channel, self.settings)
        self._conn = conn
        self.connects += 1
        self._producer = conn.Producer(channel=channel,
                                       exchange=topology.exchange(self.settings))

    def publish(self, routing_key: str, body: str, message_id: str) -> None:
        with self._lock:
            try:
                if self._conn is None:
                    self._connect()
                self._producer.publish(
                    body, routing_key=routing_key, content_type="application/json",
                    content_encoding="utf-8", delivery_mode=2, message_id=message_id,
                    mandatory=self._mandatory, retry=False, timeout=CONFIRM_TIMEOUT)
            except Exception:
                self.close()
                raise

    def close(self) -> None:
        conn, self._conn, self._producer = self._conn, None, None
        if conn is not None:
            try:
                conn.release()
            except Exception:  # already broken: nothing more to release
                log.debug("closing a broken broker connection failed", exc_info=True)
