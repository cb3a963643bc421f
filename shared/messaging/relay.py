"""The outbox relay: publish unsent rows with confirms, mark them sent, retry with backoff.

Rows go out in batches (PP_RELAY_BATCH_SIZE) with a window of outstanding publisher
confirms (PP_PUBLISH_WINDOW; 1 waits for each confirm), rows of one routing key packed up
to PP_RELAY_PACK to a message; the rows the broker confirmed are marked sent, in the
batch's one transaction, with the secrets they carry blanked (the rest of a payload stays
for PP_OUTBOX_RETENTION_SECONDS), and a row it did not is retried with backoff.
Several relays of one service may run at once: on PostgreSQL each takes its batch with
FOR UPDATE SKIP LOCKED, so no row is held by two. A crash after the publish and before the
commit publishes those rows again; consumers are idempotent, so nothing is applied twice.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence, TypeAlias, Unpack

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared import contracts, metrics
from shared.backoff import Backoff
from shared.db import among, checkpoint_wal, utcnow
from shared.tables import PlumbingTables

from .outbox import OutboxState
from .wakeup import listen, listens
from .publisher import Message, PublishResult

log = logging.getLogger(__name__)

# A row of the outbox as the relay selects it (seq, event_id, event_type, ...).
OutboxRow: TypeAlias = "sa.Row[Unpack[tuple[Any, ...]]]"

RIGHTS_EVENTS = sorted({c.type for c in contracts.CONTRACTS if c.channel == contracts.RIGHTS})
SCRUBBED_ROW_KEEP = dt.timedelta(days=7)
# Events waiting longer than this (a broker down for a week) are blanked by the periodic
# scrub instead, after PP_OUTBOX_RETENTION_SECONDS.
ERASED_RECENTLY = dt.timedelta(days=7)


class Publisher(Protocol):
    """What a relay publishes through: BrokerPublisher, or a test's stand-in."""

    def publish_many(self, messages: Sequence[Message], window: int = ...) -> PublishResult: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Pack:
    """One message on the wire: the rows of one routing key that travel in it. Its
    message id is its first row's event id (a lone row keeps its own)."""
    routing_key: str
    body: str
    rows: list[OutboxRow]

    @property
    def message_id(self) -> str:
        return str(self.rows[0].event_id)

    @property
    def message(self) -> Message:
        return Message(self.routing_key, self.body, self.message_id)


# A row the broker did not take waits longer each time, up to five minutes; a relay that
# stalls (the broker or the database down) waits up to half a minute between rounds.
ROW_RETRY = Backoff(base=0.5, cap=300.0)
STALLED = Backoff(base=1.0, cap=30.0)
# Idle and listening, a commit's notice wakes the relay: the poll is then only the fallback
# (rows due after a backoff, a notice lost before the listener noticed its connection
# gone), and need not cost a transaction every `idle_wait` in each service (issue 27).
LISTENING_POLL_SECONDS = 2.0


class OutboxRelay:
    def __init__(self, engine: Engine, tables: PlumbingTables, publisher: Publisher, *,
                 batch_size: int = 500, window: int = 256, pack: int = 1,
                 retention: dt.timedelta = dt.timedelta(hours=1),
                 clock: Callable[[], dt.datetime] = utcnow, name: str = "relay"):
        self.engine = engine
        self.outbox = tables.outbox
        self.tombstones = tables.erasure_tombstones
        self.publisher = publisher
        self.batch_size = batch_size
        self.window = window
        self.pack = max(1, pack)
        self.retention = retention
        self.clock = clock
        self.name = name
        self.wakeup = threading.Event()  # rows wait: look now rather than at the next poll
        self.listening = threading.Event()  # set while notices of new rows reach `wakeup`

    def publish_batch(self) -> int:
        """Publish one batch of due rows; returns how many were confirmed."""
        now = self.clock()
        with self.engine.begin() as conn:
            rows = self._take_due(conn, now)
            if not rows:
                return 0
            packs = self._packs(rows)
            result = self.publisher.publish_many([pack.message for pack in packs],
                                                 self.window)
            sent = [row for pack in packs if pack.message_id in result.confirmed
                    for row in pack.rows]
            self._retry_later(conn, packs, result.failed, now)
            blanked = self._mark_sent(conn, sent, now)
        if blanked:  # what an erasure could not blank before it went out: gone from disk
            checkpoint_wal(self.engine)
        for row in sent:  # counted once committed as sent
            metrics.PUBLISHED.labels(self.name, row.event_type).inc()
        if len(sent) < len(rows):
            raise RelayStalled(f"{len(rows) - len(sent)} rows not published")
        return len(sent)

    def _take_due(self, conn: sa.Connection, now: dt.datetime) -> list[OutboxRow]:
        """Up to a batch of unsent rows whose time has come, rights events first (an erasure
        never waits behind a school's term still going out), then by `seq`. On PostgreSQL
        the rows are locked (SKIP LOCKED) so that another relay of the service takes
        others. One pass over the due rows, sorting their `seq` alone: the payloads are
        read after, for the rows taken (sorting a backlog's payloads spilled to disk, twice
        a round)."""
        ob = self.outbox
        urgent = ob.c.event_type.in_(RIGHTS_EVENTS)
        picked = (sa.select(ob.c.seq)
                  .where(OutboxState.WAITING.rows(ob), ob.c.next_attempt_at <= now)
                  .order_by(urgent.desc(), ob.c.seq).limit(self.batch_size))
        if conn.dialect.name == "postgresql":
            picked = picked.with_for_update(skip_locked=True)
        taken = picked.subquery("taken")
        return list(conn.execute(
            sa.select(ob.c.seq, ob.c.event_id, ob.c.event_type, ob.c.routing_key,
                      ob.c.school_id, ob.c.payload, ob.c.attempts)
            .join_from(ob, taken, taken.c.seq == ob.c.seq)
            .order_by(urgent.desc(), ob.c.seq)).all())

    def _retry_later(self, conn: sa.Connection, packs: list[Pack],
                     failed: dict[str, str], now: dt.datetime) -> None:
        """Each row of a pack the broker did not confirm waits its backoff, with why."""
        ob = self.outbox
        for pack in packs:
            reason = failed.get(pack.message_id)
            if reason is None:
                continue
            for row in pack.rows:
                attempts = row.attempts + 1
                conn.execute(ob.update().where(ob.c.seq == row.seq).values(
                    attempts=attempts, next_attempt_at=now + ROW_RETRY.delay(attempts),
                    last_error=reason))
                log.warning("publish failed event_id=%s attempts=%d", row.event_id, attempts)

    def _mark_sent(self, conn: sa.Connection, sent: list[OutboxRow],
                   now: dt.datetime) -> bool:
        """Mark the confirmed rows sent, blanking what must not rest on disk; True when an
        erased subject's event was among them (its old bytes are then purged from disk)."""
        if not sent:
            return False
        values: dict[str, Any] = {"sent_at": self.clock()}
        if not self.retention:  # keep nothing once the broker has it
            values["payload"] = None
        conn.execute(self.outbox.update().where(among(self.outbox.c.seq, [r.seq for r in sent]))
                     .values(**values))
        if self.retention:
            self._blank_secrets(conn, sent)
        return self._blank_erased(conn, sent, now)

    def _packs(self, rows: Sequence[OutboxRow]) -> list[Pack]:
        """The rows as messages: rows with one routing key travel together, up to `pack` a
        message, as a JSON array of their envelopes (one envelope alone as itself).
        Consumers take each envelope as its own event (inbox row, checks, handler); the
        broker's work per event, which bounds a term's throughput, shrinks by the pack.
        Events of different keys may pass each other: consumers converge whatever the
        order (tests/integration/test_event_ordering_property_real.py)."""
        by_key: dict[str, list[OutboxRow]] = {}
        for row in rows:
            by_key.setdefault(row.routing_key, []).append(row)
        packs = []
        for key, group in by_key.items():
            for start in range(0, len(group), self.pack):
                chunk = group[start:start + self.pack]
                body = (chunk[0].payload if len(chunk) == 1
                        else "[" + ",".join(row.payload for row in chunk) + "]")
                packs.append(Pack(key, body, chunk))
        return packs

    def _blank_secrets(self, conn: sa.Connection, rows: list[OutboxRow]) -> None:
        """A secret an event carries (an invitation or reset token) is blanked from its row
        as soon as the broker has the event, whatever the retention: the rest of the
        payload may stay for the retention, the secret never rests here."""
        blanked = [{"row_seq": row.seq, "blank": contracts.without_secrets(row.payload)}
                   for row in rows
                   if row.event_type in contracts.SECRET_TYPES and row.payload]
        if blanked:
            ob = self.outbox
            conn.execute(ob.update().where(ob.c.seq == sa.bindparam("row_seq"))
                         .values(payload=sa.bindparam("blank")), blanked)

    def _blank_erased(self, conn: sa.Connection, rows: list[OutboxRow],
                      now: dt.datetime) -> bool:
        """An event about a subject erased while it waited is blanked as soon as it is
        sent: the erasure could not blank it then, and must leave nothing behind. True
        when the batch held such an event (its old bytes are then purged from disk)."""
        if self.tombstones is None:
            return False
        t = self.tombstones
        recent = conn.execute(sa.select(t.c.school_id, t.c.subject_id).where(
            t.c.erased_at > now - ERASED_RECENTLY)).all()
        if not recent:
            return False
        # A school's erasure reaches that school's events (and those of no school).
        doomed = [r.seq for r in rows if any(
            subject_id in r.payload for school_id, subject_id in recent
            if r.school_id in (None, school_id))]
        if doomed and self.retention:  # without retention every sent payload is blank
            conn.execute(self.outbox.update().where(among(self.outbox.c.seq, doomed))
                         .values(payload=None))
        return bool(doomed)

    def scrub(self) -> int:
        """Blank payloads sent longer ago than the retention; drop old scrubbed rows."""
        now = self.clock()
        ob = self.outbox
        with self.engine.begin() as conn:
            scrubbed = conn.execute(ob.update().where(
                OutboxState.SENT.rows(ob), ob.c.sent_at < now - self.retention)
                .values(payload=None)).rowcount
            conn.execute(ob.delete().where(OutboxState.SCRUBBED.rows(ob),
                                           ob.c.sent_at < now - SCRUBBED_ROW_KEEP))
        return scrubbed

    def pending(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(self.outbox)
                                .where(OutboxState.WAITING.rows(self.outbox))).scalar_one()

    def poll_wait(self, idle_wait: float) -> float:
        """How long an idle relay waits before it looks again unwoken: `idle_wait` while no
        notice can wake it (SQLite, a listener without its connection), else the
        listening fallback (LISTENING_POLL_SECONDS, or `idle_wait` if longer)."""
        if self.listening.is_set():
            return max(idle_wait, LISTENING_POLL_SECONDS)
        return idle_wait

    def run(self, stop: threading.Event, idle_wait: float = 0.2) -> None:
        """Loop until stopped: publish while there is work, back off when the broker fails.
        Idle, it waits for a notice of new rows (wakeup.py), or polls after `poll_wait`."""
        if listens(self.engine):
            threading.Thread(target=listen, args=(self.engine, self.wakeup.set, stop,
                                                  self.listening),
                             name=f"{self.name}.listen", daemon=True).start()
        failures = 0
        last_scrub = 0.0
        while not stop.is_set():
            try:
                published = self.publish_batch()
                failures = 0
                if time.monotonic() - last_scrub > 60:
                    self.scrub()
                    last_scrub = time.monotonic()
                if published:
                    continue
            except Exception:
                failures += 1
                log.warning("relay %s stalled (failure %d)", self.name, failures,
                            exc_info=failures == 1)
                stop.wait(STALLED.seconds(failures))
                continue
            self.wakeup.wait(self.poll_wait(idle_wait))
            self.wakeup.clear()
        self.publisher.close()


class RelayStalled(RuntimeError):
    """Some due rows could not be published this round."""
