"""Access tokens revoked before they expire (docs/decisions.md "Token revocation").

An access token is checked by every service on its own, from its signature: nothing tells
a service that the account signed out, reset its password, was erased or removed by its
school, or that a school-system client was revoked. Identity therefore publishes
TokensRevoked (on the rights channel, so no school's data backlog delays it); every
service applies it into its own `token_revocations` table (`apply_revocations`), and the
token check refuses a token it names (`RevocationView`, read by `shared.auth.require`).

The view holds the table's live rows in memory and re-reads them at most once every
`refresh_seconds` (one small query a second per process, made by the request that finds
the view stale while the others go on with it): a revoked token is refused within about a
second of the event's arrival, and no request waits for the database on its account.
Rows go once every token they name has expired (`expires_at`).
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from typing import Any, Callable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared.contracts.typed import TokensRevoked
from shared.db import utcnow
from shared.messaging.consumer import Event

log = logging.getLogger(__name__)

# A row outlives the tokens it names by this much, for the verifiers' clock leeway.
KEEP_AFTER_EXPIRY_SECONDS = 60


def revocation_data(subject_id: str, *, reason: str, revoked_before: dt.datetime,
                    token_lifetime: int,
                    session_id: str | None = None) -> dict[str, Any]:
    """The data of a TokensRevoked event: tokens of `subject_id` (of one sign-in, when
    `session_id` is given) issued before `revoked_before` stop working."""
    keep = dt.timedelta(seconds=token_lifetime + KEEP_AFTER_EXPIRY_SECONDS)
    return {"subject_id": subject_id, "session_id": session_id,
            "revoked_before": revoked_before, "expires_at": revoked_before + keep,
            "reason": reason}


def apply_revocations(table: sa.Table
                      ) -> Callable[[Session, Sequence[Event[TokensRevoked]]], None]:
    """The TokensRevoked handler every service has: the revocation is kept until the tokens
    it names have expired; expired ones are pruned as new ones arrive."""
    def on_tokens_revoked(session: Session, events: Sequence[Event[TokensRevoked]]) -> None:
        for event in events:
            data = event.data
            now = utcnow()
            session.execute(table.delete().where(table.c.expires_at <= now))
            if data.expires_at > now:
                session.execute(table.insert().values(
                    id=event.id, subject_id=data.subject_id,
                    session_id=data.session_id, revoked_before=data.revoked_before,
                    expires_at=data.expires_at))
            log.info("tokens revoked subject_id=%s session_id=%s reason=%s event_id=%s",
                     data.subject_id, data.session_id, data.reason, event.id)
    return on_tokens_revoked


class RevocationsUnavailable(RuntimeError):
    """The revocations were never read (the database is away since the process started)."""


class RevocationView:
    """The revocations a service applied, in memory, re-read at most every
    `refresh_seconds`. Thread-safe: the maps are replaced whole, never changed in place."""

    def __init__(self, engine: Engine, table: sa.Table, refresh_seconds: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.engine = engine
        self.table = table
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._loaded_at: float | None = None
        # subject id -> ((session id or None, revoked before as epoch seconds), ...)
        self._by_subject: dict[str, tuple[tuple[str | None, float], ...]] = {}

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        self._fresh()
        entries = self._by_subject.get(str(claims.get("sub")))
        if not entries:
            return False
        issued = claims.get("iat")
        if not isinstance(issued, (int, float)) or isinstance(issued, bool) \
                or not math.isfinite(issued):
            return True  # no instant to compare: every revocation of the subject holds
        # A token naming no sign-in (issued before tokens carried `sid`) falls under
        # every revocation of its subject: refused rather than kept.
        session = claims.get("sid")
        return any((wanted is None or session is None or wanted == session)
                   and issued < before for wanted, before in entries)

    def refresh(self) -> None:
        """Read the table at the next check (as the periodic re-read would)."""
        self._loaded_at = None

    def _fresh(self) -> None:
        loaded_at = self._loaded_at
        if loaded_at is not None and self.clock() - loaded_at < self.refresh_seconds:
            return
        # Never read yet: wait for whoever reads it. Stale: one request re-reads, the
        # others go on with the view of a second ago.
        if not self._lock.acquire(blocking=loaded_at is None):
            return
        try:
            if self._loaded_at is not None and \
                    self.clock() - self._loaded_at < self.refresh_seconds:
                return
            try:
                self._by_subject = self._read()
            except Exception as exc:
                log.warning("token revocations not read error=%s", type(exc).__name__)
                if self._loaded_at is None:
                    raise RevocationsUnavailable() from None
            self._loaded_at = self.clock()  # also after a failure: no retry storm
        finally:
            self._lock.release()

    def _read(self) -> dict[str, tuple[tuple[str | None, float], ...]]:
        t = self.table
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.subject_id, t.c.session_id, t.c.revoked_before)
                                .where(t.c.expires_at > utcnow())).all()
        by_subject: dict[str, list[tuple[str | None, float]]] = {}
        for row in rows:
            by_subject.setdefault(row.subject_id, []).append(
                (row.session_id, row.revoked_before.timestamp()))
        return {subject: tuple(entries) for subject, entries in by_subject.items()}
