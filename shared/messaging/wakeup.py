"""The relay's wake-up across processes: PostgreSQL LISTEN/NOTIFY.

A transaction that writes outbox rows notifies `CHANNEL` (`announce`); PostgreSQL delivers
the notice when, and only if, it commits, once however many rows it wrote. The service's
relay listens on a connection of its own (`listen`) and is woken at once, instead of at
its next poll: ingest's web process commits a school's push, its worker's relay sends it.
The relay still polls (a notice lost with a dropped connection, rows due after a backoff),
so a notice is only ever a hint. One database per service, so one channel name serves
every service. SQLite (embedded mode, unit tests) has no notices: there the relay polls,
and its in-process wake-up (`OutboxRelay.wakeup`) is set directly.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared.backoff import Backoff

log = logging.getLogger(__name__)

CHANNEL = "pp_outbox"
# How often the listener looks at its stop event while no notice comes.
LISTEN_TICK_SECONDS = 1.0
# A listener that lost its connection waits longer each time before listening again.
RELISTEN = Backoff(base=1.0, cap=30.0)


def announce(session: Session) -> None:
    """Tell the service's relay, once this transaction commits, that rows wait."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text(f"NOTIFY {CHANNEL}"))


def listens(engine: Engine) -> bool:
    """Whether this database delivers notices (PostgreSQL)."""
    return engine.dialect.name == "postgresql"


def listen(engine: Engine, on_notice: Callable[[], object], stop: threading.Event,
           listening: threading.Event) -> None:
    """Call `on_notice` for each notice on CHANNEL until `stop` is set; `listening` is set
    while a connection listens. A lost connection is listened on again after a backoff
    (meanwhile the relay polls)."""
    failures = 0
    while not stop.is_set():
        try:
            _listen_once(engine, on_notice, stop, listening)
            failures = 0
        except Exception:
            failures += 1
            log.warning("outbox listener lost its connection (failure %d)", failures,
                        exc_info=failures == 1)
        finally:
            listening.clear()
        if not stop.is_set():
            on_notice()  # whatever was announced meanwhile: look once
            stop.wait(RELISTEN.seconds(failures))


def _listen_once(engine: Engine, on_notice: Callable[[], object], stop: threading.Event,
                 listening: threading.Event) -> None:
    """Listen on one connection of its own (out of the pool: it stays in LISTEN) until
    `stop`, or until the connection fails."""
    pooled = engine.raw_connection()
    conn: Any = pooled.driver_connection  # psycopg's own: LISTEN needs its notifies()
    pooled.detach()  # never handed back to the pool with a LISTEN on it
    try:
        conn.rollback()  # idle, whatever the pool's ping began
        conn.autocommit = True
        conn.execute(f"LISTEN {CHANNEL}")
        listening.set()
        while not stop.is_set():
            for _notice in conn.notifies(timeout=LISTEN_TICK_SECONDS):
                on_notice()
    finally:
        pooled.close()
