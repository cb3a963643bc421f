"""The idempotent consumer (DESIGN.md "Reliability rules").

For each delivery: decode and check the event against its contract (a failure is permanent:
dead-lettered at once, with the reason); then, in one transaction, record the event id in
the inbox and run the handler; ack only after that commits. A handler that raises is
retried a bounded number of times, then dead-lettered. Dead letters live in the service's
own database, where they can be listed, replayed and erased.

Deliveries are applied in batches (PP_CONSUMER_BATCH events, PP_CONSUMER_BATCH_BYTES of
messages): the inbox rows and every handler's effects of a batch commit in one transaction,
and all are acked after it.
A delivery on its own is a batch of one: one path and one inbox mechanism (insert ... on
conflict do nothing returning, on PostgreSQL and SQLite alike) serve both.
If anything in a batch fails, the batch is rolled back and each delivery is processed
alone, so a poison event is retried (and dead-lettered) by itself and never holds up or
duplicates the others.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Callable, Generic, Mapping, Sequence, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from shared.contracts import ContractError, without_secrets
from shared.contracts.typed import EventData
from shared.db import affected, among, utcnow
from shared.tables import PlumbingTables


from .envelope import Envelope, correlation_id_var, parse_envelope

log = logging.getLogger(__name__)
# One line per event applied: a deployment's trail of what each event caused (by its
# correlation id); `make run` quiets it at INFO (shared/embedded.py).
applied_log = logging.getLogger(f"{__name__}.applied")

# A delivery as it arrives: the message body (bytes from RabbitMQ, text from the
# in-memory broker), or one envelope of a packed message.
Body = bytes | str | dict[str, Any]

# Producers' clocks may be behind the consumer's: inbox rows are kept this much longer
# than the age at which an event is refused.
INBOX_CLOCK_MARGIN = dt.timedelta(days=1)

T = TypeVar("T", covariant=True)
D = TypeVar("D", bound=EventData)


@dataclass(frozen=True)
class Event(Generic[T]):
    """One delivered event as a handler sees it: the envelope (id, school, correlation id)
    and its data as the contract loaded it, typed (shared/contracts/typed.py)."""

    envelope: Envelope
    data: T

    @property
    def id(self) -> str:
        return self.envelope.id

    @property
    def school_id(self) -> str | None:
        return self.envelope.school_id

    @property
    def school(self) -> str:
        """The school of an event about a school's data (its envelope names one)."""
        return cast(str, self.envelope.school_id)


# The one handler signature: the open transaction and the events to apply, all of one type
# and in the order they came.
Handler = Callable[[Session, Sequence[Event[Any]]], None]


@dataclass(frozen=True)
class Route:
    """An event type and the handler it is routed to.

    A `gathered` handler gets every event of its type in a batch at once, applied between
    the events of handlers that are not gathered (those are applied one by one, each in
    its place). So a gathered handler must leave the state applying its events one by one
    would leave, and must not read what another gathered handler of the service writes."""

    data_class: type[EventData]  # the event's typed data (its type is the event's)
    handler: Handler
    gathered: bool = False

    @property
    def event_type(self) -> str:
        return self.data_class.event_type


def route(data_class: type[D], handler: Callable[[Session, Sequence[Event[D]]], None], *,
          gathered: bool = False) -> Route:
    """Route the events of `data_class`'s type to `handler` (a type checker holds the
    handler to that type)."""
    return Route(data_class, handler, gathered)


def _record_new(session: Session, inbox: sa.Table, envelopes: list[Envelope]) -> set[str]:
    """Insert the inbox rows of events not seen before, in one statement; the ids that
    were new. Rows go in id order, so two workers' overlapping batches wait on the same
    row first instead of deadlocking; a row another worker has inserted but not committed
    makes this one wait for that commit, then counts as seen."""
    now = utcnow()
    ordered = sorted(envelopes, key=lambda e: e.id)
    if session.get_bind().dialect.name != "postgresql":
        each = sqlite.insert(inbox).on_conflict_do_nothing().returning(inbox.c.event_id)
        return set(session.execute(each, [
            {"event_id": e.id, "event_type": e.type, "applied_at": now}
            for e in ordered]).scalars())
    # On PostgreSQL the rows travel as two arrays (unnest, in their order), not as three
    # cast parameters a row: a batch's insert is one small statement to parse and plan.
    rows = sa.func.unnest(
        sa.bindparam("ids", [e.id for e in ordered], type_=sa.ARRAY(inbox.c.event_id.type)),
        sa.bindparam("types", [e.type for e in ordered],
                     type_=sa.ARRAY(inbox.c.event_type.type)),
    ).table_valued("event_id", "event_type", with_ordinality="n").render_derived()
    statement = postgresql.insert(inbox).from_select(
        ["event_id", "event_type", "applied_at"],
        sa.select(rows.c.event_id, rows.c.event_type,
                  sa.bindparam("now", now, type_=inbox.c.applied_at.type)).order_by(rows.c.n))
    return set(session.execute(
        statement.on_conflict_do_nothing().returning(inbox.c.event_id)).scalars())


def _groups(batch: list[_Delivery]) -> list[list[_Delivery]]:
    """The batch in application order: each event of a handler that is not gathered alone
    and in its place; between them, the events of gathered handlers, grouped by route."""
    groups: list[list[_Delivery]] = []
    pending: dict[Route, list[_Delivery]] = {}
    for delivery in batch:
        if not delivery.route.gathered:
            groups.extend(pending.values())
            pending = {}
            groups.append([delivery])
        else:
            pending.setdefault(delivery.route, []).append(delivery)
    groups.extend(pending.values())
    return groups


def _run(session: Session, group: list[_Delivery]) -> None:
    """Apply a group of events of one route; a group of one in its correlation id."""
    events: list[Event[Any]] = [Event(d.envelope, d.data) for d in group]
    token = correlation_id_var.set(group[0].envelope.correlation_id) if len(group) == 1 \
        else None
    try:
        group[0].route.handler(session, events)
    finally:
        if token is not None:
            correlation_id_var.reset(token)


class Outcome(StrEnum):
    """What became of a delivery (also the `outcome` label of the consumed-events metric)."""
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # applied before: nothing done again
    RETRY = "retry"          # failed; handed back to the broker for another attempt
    DEAD_LETTERED = "dead_lettered"


APPLIED, DUPLICATE, RETRY, DEAD_LETTERED = (
    Outcome.APPLIED, Outcome.DUPLICATE, Outcome.RETRY, Outcome.DEAD_LETTERED)


class PermanentError(Exception):
    """Raised by a handler for an event that can never succeed: dead-lettered at once.
    Its message is recorded as the reason, so it must hold ids only."""


def _reason(exc: BaseException) -> str:
    """Why a delivery failed, without values: exception texts (a database's "invalid input
    syntax ... 'jane@...'", a KeyError's key) can hold personal data. Only our own errors,
    whose messages name fields and ids, keep their text."""
    if isinstance(exc, (ContractError, PermanentError)):
        text = str(exc).splitlines()[0] if str(exc) else ""
        return f"{type(exc).__name__}: {text}"[:1000] if text else type(exc).__name__
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return f"{type(exc).__name__} (sqlstate {sqlstate})" if sqlstate else type(exc).__name__


@dataclass(frozen=True)
class _Delivery:
    """One event of a batch, ready to apply: where it stands in the batch, the delivery
    as it came, the event, its loaded data and the route of its type."""

    index: int
    body: Any
    envelope: Envelope
    data: EventData
    route: Route


@dataclass
class DeliveryProcessor:
    """Everything about deliveries except the broker: testable without one.

    There is one way to apply events: a batch, in one transaction (`process` is a batch of
    one). If the transaction fails, each of its events is applied alone, the same way; an
    event that fails alone is retried a bounded number of times, then dead-lettered."""

    service: str
    queue: str
    sessions: sessionmaker[Session]
    tables: PlumbingTables
    handlers: Mapping[str, Route]  # by event type
    max_attempts: int = 5
    inbox_retention: dt.timedelta = dt.timedelta(days=30)

    def process(self, body: bytes | str) -> str:
        """Process one delivery: its outcome."""
        return self.process_batch([body])[0]

    def process_batch(self, bodies: Sequence[Any]) -> list[str]:
        """Apply many deliveries in one transaction; the outcome of each, in order.

        Undecodable deliveries and events without a handler are dead-lettered one by one;
        a second copy of an event within the batch is a duplicate."""
        outcomes = [""] * len(bodies)
        batch: list[_Delivery] = []
        ids: set[str] = set()
        for index, body in enumerate(bodies):
            try:
                admitted = self._admit(index, body)
            except Exception as exc:  # our database is away: the dead letter is not stored
                outcomes[index] = self._not_processed(body, exc)
                continue
            if isinstance(admitted, str):
                outcomes[index] = admitted
            elif admitted.envelope.id in ids:
                outcomes[index] = DUPLICATE
            else:
                ids.add(admitted.envelope.id)
                batch.append(admitted)
        for index, outcome in self._settle(batch):
            outcomes[index] = outcome
        return outcomes

    def _admit(self, index: int, body: Any) -> _Delivery | str:
        """The delivery ready to apply, or DEAD_LETTERED if it never can be."""
        try:
            envelope, loaded = parse_envelope(body)
        except ContractError as exc:
            self.dead_letter(body, None, str(exc), attempts=1, event_id=exc.event_id,
                             event_type=exc.event_type)
            return DEAD_LETTERED
        if envelope.occurred_at < utcnow() - self.inbox_retention:
            self.dead_letter(body, envelope, f"older than the inbox retention "
                             f"({self.inbox_retention.days} days): whether it was applied "
                             "cannot be told; its producer must send it again", attempts=1)
            return DEAD_LETTERED
        routed = self.handlers.get(envelope.type)
        if routed is None:
            self.dead_letter(body, envelope, f"no handler for {envelope.type} in "
                             f"{self.service}", attempts=1)
            return DEAD_LETTERED
        return _Delivery(index, body, envelope, routed.data_class.load(loaded), routed)

    def prune_inbox(self) -> int:
        """Forget the events applied before the retention (and a day's margin for the
        producers' clocks): no event that old is admitted any more (`_admit`), so none of
        them can come again and be taken for new. Returns how many rows went."""
        inbox = self.tables.inbox
        horizon = utcnow() - self.inbox_retention - INBOX_CLOCK_MARGIN
        with self.sessions() as session, session.begin():
            return affected(session.execute(inbox.delete().where(
                inbox.c.applied_at < horizon)))

    def _settle(self, batch: list[_Delivery]) -> list[tuple[int, str]]:
        """(index, outcome) of each event of the batch: all applied in one transaction,
        or, if that fails, each alone (the same way: a batch of one)."""
        if not batch:
            return []
        try:
            return self._apply(batch)
        except Exception as exc:
            if len(batch) == 1:
                return [(batch[0].index, self._failure(batch[0], exc))]
            log.info("batch of %d rolled back, applying each alone queue=%s error=%s",
                     len(batch), self.queue, type(exc).__name__)
        return [pair for delivery in batch for pair in self._settle([delivery])]

    def _apply(self, batch: list[_Delivery]) -> list[tuple[int, str]]:
        attempts = self.tables.delivery_attempts
        with self.sessions() as session, session.begin():
            recorded = _record_new(session, self.tables.inbox,
                                   [delivery.envelope for delivery in batch])
            fresh = [delivery for delivery in batch if delivery.envelope.id in recorded]
            for group in _groups(fresh):
                _run(session, group)
            if fresh:
                # Earlier failed attempts are forgotten in the same commit (no extra trip).
                session.execute(attempts.delete().where(among(attempts.c.event_id,
                    [delivery.envelope.id for delivery in fresh])))
        for delivery in fresh:
            token = correlation_id_var.set(delivery.envelope.correlation_id)
            applied_log.info("applied event_id=%s type=%s service=%s",
                             delivery.envelope.id, delivery.envelope.type, self.service)
            correlation_id_var.reset(token)
        return [(delivery.index, APPLIED if delivery.envelope.id in recorded else DUPLICATE)
                for delivery in batch]

    def _failure(self, delivery: _Delivery, exc: Exception) -> str:
        """The outcome of an event that failed alone: dead-lettered at once if it never
        can succeed, else an attempt counted (and dead-lettered after the last)."""
        token = correlation_id_var.set(delivery.envelope.correlation_id)
        try:
            if isinstance(exc, PermanentError):
                self.dead_letter(delivery.body, delivery.envelope, _reason(exc), attempts=1)
                return DEAD_LETTERED
            return self._failed(delivery.body, delivery.envelope, exc)
        except Exception as error:  # our database is away too
            return self._not_processed(delivery.body, error)
        finally:
            correlation_id_var.reset(token)

    def _not_processed(self, body: Any, exc: Exception) -> str:
        log.warning("delivery not processed queue=%s error=%s", self.queue,
                    type(exc).__name__)
        return self.unprocessable(body, exc)

    def unprocessable(self, body: Body, exc: Exception) -> str:
        """A delivery whose processing itself failed: retried, but not for ever."""
        raw = _text(body)
        try:
            attempts = self._count_attempt(_body_key(raw), _reason(exc))
            if attempts >= self.max_attempts:
                self.dead_letter(body, None, _reason(exc), attempts=attempts)
                return DEAD_LETTERED
        except Exception:  # the database is down: keep the message until it is back
            log.warning("cannot record attempt queue=%s", self.queue, exc_info=True)
        return RETRY

    def _failed(self, body: Body, envelope: Envelope, exc: Exception) -> str:
        attempts = self._count_attempt(envelope.id, _reason(exc))
        log.warning("handler failed event_id=%s type=%s attempt=%d/%d error=%s",
                    envelope.id, envelope.type, attempts, self.max_attempts,
                    type(exc).__name__)
        if attempts >= self.max_attempts:
            self.dead_letter(body, envelope, _reason(exc), attempts=attempts)
            return DEAD_LETTERED
        return RETRY

    def _count_attempt(self, key: str, reason: str) -> int:
        da = self.tables.delivery_attempts
        with self.sessions() as session, session.begin():
            row = session.execute(sa.select(da.c.attempts).where(da.c.event_id == key)
                                  .with_for_update()).first()
            attempts = (row.attempts if row else 0) + 1
            values = dict(attempts=attempts, last_error=reason[:500], updated_at=utcnow())
            if row:
                session.execute(da.update().where(da.c.event_id == key).values(**values))
            else:
                session.execute(da.insert().values(event_id=key, **values))
        return attempts

    def dead_letter(self, body: Body, envelope: Envelope | None, reason: str, *,
                    attempts: int, event_id: str | None = None,
                    event_type: str | None = None) -> str:
        """Store the delivery as a dead letter and forget its attempts, in one transaction.
        A secret the event carries is not kept (the letter then cannot be replayed: the
        producer sends a new one, as a resent invitation does)."""
        raw = _text(body)
        event_id = envelope.id if envelope else (event_id or _body_key(raw))
        raw = without_secrets(raw).replace("\x00", "\ufffd")  # PostgreSQL text: no NUL
        event_type = envelope.type if envelope else event_type
        letter_id = str(uuid.uuid4())
        with self.sessions() as session, session.begin():
            session.execute(self.tables.dead_letters.insert().values(
                id=letter_id, event_id=event_id,
                event_type=event_type, routing_key=None,
                queue=self.queue, reason=reason[:1000], attempts=attempts, payload=raw,
                created_at=utcnow()))
            da = self.tables.delivery_attempts
            session.execute(da.delete().where(da.c.event_id == event_id))
        log.error("dead-lettered dead_letter_id=%s event_id=%s queue=%s reason=%s",
                  letter_id, event_id, self.queue, reason)
        return letter_id


def _text(body: Body) -> str:
    if isinstance(body, dict):  # one envelope of a packed message
        return json.dumps(body)
    return body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body


def _body_key(raw: str) -> str:
    return "sha1:" + hashlib.sha1(raw.encode("utf-8", "replace")).hexdigest()[:40]
