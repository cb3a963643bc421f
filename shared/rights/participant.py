"""The shared rights participant: answers every rights event from a service's declaration."""
from __future__ import annotations

import datetime as dt
import decimal
import logging
import uuid
from enum import StrEnum
from functools import partial
from dataclasses import dataclass
from collections.abc import Iterable, Sequence
from typing import Any, Callable, Iterator, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.contracts import without_secrets
from shared.db import (advisory_locks, affected, among, database_unavailable,
                       purge_after_commit, utcnow)
from shared.deadletters import erase_letters_naming
from shared.contracts import typed as ev
from shared.messaging.consumer import Event, Route, route
from shared.messaging.outbox import Outbox, OutboxState, confirmed
from shared.receipts.keys import ReceiptKeys
from shared.tables import PlumbingTables

from .declarations import DataDeclaration, TableDeclaration
from .subjects import SubjectKey

log = logging.getLogger(__name__)
D = TypeVar("D")  # an event's data


class Hold(StrEnum):
    """What holds_among asks of a subject: erased, restricted, or objected to a processing."""
    ERASED = "erased"
    RESTRICTED = "restricted"
    OBJECTED = "objected"


# The rights events a participant answers: a subject request's, and a school's offboarding.
SubjectRequest = (ev.ErasureRequested | ev.AccessRequested | ev.ProcessingRestricted
                  | ev.RestrictionLifted | ev.ObjectionRecorded)
RightsEvent = SubjectRequest | ev.SchoolOffboarded


@dataclass(frozen=True)
class Subject:
    school_id: str
    type: str
    id: str


def _plumbing_declarations() -> tuple[TableDeclaration, ...]:
    from .declarations import NOT_PERSONAL as N, Personal, TableDeclaration as T
    event = Personal("any", "a message between the parts may name anyone it is about")
    return (
        T("outbox", {"event_id": N, "event_type": N, "routing_key": N, "school_id": N,
                     "payload": event, "created_at": N, "next_attempt_at": N,
                     "last_error": N, "sent_at": N}, school_column="school_id"),
        T("inbox", {"event_id": N, "event_type": N, "applied_at": N}, school_column=None),
        T("delivery_attempts", {"event_id": N, "last_error": N, "updated_at": N},
          school_column=None),
        T("dead_letters", {"id": N, "event_id": N, "event_type": N, "routing_key": N,
                           "queue": N, "reason": N, "payload": event, "created_at": N,
                           "replayed_at": N}, school_column=None),
        T("restrictions", {"subject_type": N, "subject_id": N, "school_id": N,
                           "restricted_at": N}),
        T("objections", {"subject_type": N, "subject_id": N, "processing": N,
                         "school_id": N, "recorded_at": N}),
        T("erasure_tombstones", {"subject_type": N, "subject_id": N, "school_id": N,
                                 "erased_at": N}),
        T("token_revocations", {"id": N, "subject_id": N, "session_id": N,
                                "revoked_before": N, "expires_at": N}, school_column=None),
        T("receipt_keys", {"kid": N, "private_key": N, "created_at": N, "retired_at": N},
          school_column=None),
    )


# The plumbing tables are declared once, here, for every service.
PLUMBING_DECLARATIONS: tuple[TableDeclaration, ...] = _plumbing_declarations()


def with_plumbing(declaration: DataDeclaration) -> DataDeclaration:
    """A service's declaration plus the plumbing tables every service has."""
    return DataDeclaration(declaration.service, (*declaration.tables, *PLUMBING_DECLARATIONS))


def _jsonable(value: Any) -> Any:
    if isinstance(value, str):  # a stored event (outbox, dead letters): never its secrets
        return without_secrets(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def lock_school_data(session: Session, school_ids: Iterable[str | None],
                     shared: bool = False) -> None:
    """Until the transaction ends: the schools' data events hold this shared (they go
    together), an erasure or an offboarding there exclusively. A data event applied beside
    one would write rows its deletions never saw (its check of the tombstones came first),
    left after it; either now waits for the other, and a data event that waited sees the
    tombstone."""
    advisory_locks(session, [f"school-data:{s}" for s in school_ids if s], shared=shared)


class RightsParticipant:
    """Exports, erases, restricts and offboards by the declaration; answers via the outbox.

    A service subclasses it only where its data needs more (for example identity deleting
    a login when a guardian is erased at their last school).
    """

    def __init__(self, service: str, declaration: DataDeclaration, metadata: sa.MetaData,
                 tables: PlumbingTables, outbox: Outbox, receipts: ReceiptKeys | None = None):
        self.service = service
        self.declaration = declaration
        self.metadata = metadata
        self.tables = tables
        self.outbox = outbox
        # The service's receipt keys (shared.service.receipt_keys_for): each answer is
        # signed (issue 30); None, unsigned.
        self.receipts = receipts

    # --- the operations a service may extend ------------------------------------------
    def _subject_tables(self, subject: Subject
                        ) -> Iterator[tuple[TableDeclaration, sa.Table, sa.ColumnElement[bool]]]:
        for decl in self.declaration.tables:
            column = decl.subjects.get(subject.type)
            if column is None:
                continue
            table = self.metadata.tables[decl.table]
            condition = table.c[column] == subject.id
            if decl.school_column:
                condition = sa.and_(condition, table.c[decl.school_column] == subject.school_id)
            yield decl, table, condition

    def export(self, session: Session, subject: Subject) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for decl, table, condition in self._subject_tables(subject):
            rows = session.execute(sa.select(table).where(condition)).mappings().all()
            out[decl.table] = [{k: _jsonable(v) for k, v in row.items()} for row in rows]
        return out

    def erase(self, session: Session, subject: Subject) -> dict[str, int]:
        counts: dict[str, int] = {}
        for decl, table, condition in self._subject_tables(subject):
            counts[decl.table] = affected(session.execute(table.delete().where(condition)))
        counts.update(self._erase_plumbing(session, subject))
        self._tombstone(session, subject.type, subject.id, subject.school_id)
        return counts

    def _erase_plumbing(self, session: Session, subject: Subject) -> dict[str, int]:
        """Sent event payloads and dead letters naming the subject go at once: the
        school's own and those of no school. Another school's stay, though they may name
        the same id (a staff subject is the login's id, the same at every school): they
        are that school's. Unsent events still go out (their consumers drop what concerns
        an erased subject, and an event may name other people too); the relay blanks each
        as it is confirmed, since the tombstone is there by then (see OutboxRelay)."""
        t = self.tables
        naming = sa.and_(t.outbox.c.payload.like(f"%{subject.id}%"),
                         sa.or_(t.outbox.c.school_id == subject.school_id,
                                t.outbox.c.school_id.is_(None)))
        # Wait for a relay publishing one of them right now: once it has marked it sent,
        # the scrub below (a later statement) sees and blanks it.
        session.execute(sa.select(t.outbox.c.seq).where(
            OutboxState.WAITING.rows(t.outbox), naming).with_for_update())
        scrubbed = affected(session.execute(t.outbox.update().where(
            confirmed(t.outbox), naming).values(payload=None)))
        dead = erase_letters_naming(session, t.dead_letters, subject.id, subject.school_id)
        restricted = affected(session.execute(t.restrictions.delete().where(
            t.restrictions.c.subject_type == subject.type,
            t.restrictions.c.subject_id == subject.id,
            t.restrictions.c.school_id == subject.school_id)))
        objected = affected(session.execute(t.objections.delete().where(
            t.objections.c.subject_type == subject.type,
            t.objections.c.subject_id == subject.id,
            t.objections.c.school_id == subject.school_id)))
        return {"outbox_scrubbed": scrubbed, "dead_letters": dead,
                "restrictions": restricted, "objections": objected}

    def restrict(self, session: Session, subject: Subject, restricted: bool) -> dict[str, int]:
        r = self.tables.restrictions
        # Keyed by school: a request naming another school's id changes nothing there.
        session.execute(r.delete().where(r.c.subject_type == subject.type,
                                         r.c.subject_id == subject.id,
                                         r.c.school_id == subject.school_id))
        if restricted:
            session.execute(r.insert().values(subject_type=subject.type,
                                              subject_id=subject.id,
                                              school_id=subject.school_id,
                                              restricted_at=utcnow()))
        return {"restrictions": 1 if restricted else 0}

    def record_objection(self, session: Session, subject: Subject,
                         processing: str) -> dict[str, int]:
        o = self.tables.objections
        session.execute(o.delete().where(o.c.subject_type == subject.type,
                                         o.c.subject_id == subject.id,
                                         o.c.processing == processing,
                                         o.c.school_id == subject.school_id))
        session.execute(o.insert().values(subject_type=subject.type, subject_id=subject.id,
                                          processing=processing,
                                          school_id=subject.school_id,
                                          recorded_at=utcnow()))
        return {"objections": 1}

    def offboard(self, session: Session, school_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for decl in self.declaration.tables:
            if decl.table in ("outbox",) or not decl.school_column:
                continue
            table = self.metadata.tables[decl.table]
            counts[decl.table] = affected(session.execute(
                table.delete().where(table.c[decl.school_column] == school_id)))
        ob = self.tables.outbox
        # Sent events of the school go; waiting ones still go out (their consumers drop a
        # school's late data) and are blanked as they are sent (the school's tombstone).
        counts["outbox_deleted"] = affected(session.execute(ob.delete().where(
            ob.c.school_id == school_id, confirmed(ob))))
        letters = self.tables.dead_letters
        counts["dead_letters"] = affected(session.execute(letters.delete().where(
            letters.c.payload.like(f"%{school_id}%"))))
        # The school itself is tombstoned: its late events change nothing from now on.
        self._tombstone(session, "school", school_id, school_id)
        return counts

    def _tombstone(self, session: Session, subject_type: str, subject_id: str,
                   school_id: str) -> None:
        t = self.tables.erasure_tombstones
        session.execute(t.delete().where(t.c.subject_type == subject_type,
                                         t.c.subject_id == subject_id,
                                         t.c.school_id == school_id))
        session.execute(t.insert().values(subject_type=subject_type, subject_id=subject_id,
                                          school_id=school_id, erased_at=utcnow()))

    def not_erased(self, session: Session, key: SubjectKey[D], events: Sequence[Event[D]]
                   ) -> list[Event[D]]:
        """The events whose subject (`key.id_of(data)`: STUDENT, GUARDIAN, STAFF) was not
        erased by the event's school, in their order (one query per school): a late event
        about an erased subject changes nothing."""
        by_school: dict[str | None, set[str]] = {}
        for event in events:
            subject_id = key.id_of(event.data)
            if subject_id:
                by_school.setdefault(event.school_id, set()).add(subject_id)
        erased = {(school, subject_id) for school, ids in by_school.items()
                  for subject_id in self.erased_among(session, key.type, ids, school)}
        return [e for e in events if (e.school_id, key.id_of(e.data)) not in erased]

    # --- queries every service uses -------------------------------------------------
    # The rights state is the school's: a row written for one school never speaks for a
    # record of another, whatever id a request named.
    def erased_among(self, session: Session, subject_type: str, subject_ids: Iterable[str],
                     school_id: str | None) -> set[str]:
        """Which of these subjects of the school were erased there."""
        ids = list(subject_ids)
        if not ids or not school_id:
            return set()
        t = self.tables.erasure_tombstones
        return set(session.execute(sa.select(t.c.subject_id).where(
            t.c.school_id == school_id, t.c.subject_type == subject_type,
            among(t.c.subject_id, ids))).scalars())

    def erased_at_their_schools(self, session: Session, subject_type: str,
                                schools: dict[str, str | None]) -> set[str]:
        """For events that list records of several schools (AccountActivated): which of
        these subjects were erased at their own school (`schools`: id -> the school the
        service holds the record at, or the event's school for one not seen yet)."""
        by_school: dict[str | None, set[str]] = {}
        for subject_id, school_id in schools.items():
            by_school.setdefault(school_id, set()).add(subject_id)
        # Their schools' locks too, not only the event's (lock_school_data): the rows
        # written after this check are those schools'.
        lock_school_data(session, by_school, shared=True)
        return {subject_id for school_id, ids in by_school.items()
                for subject_id in self.erased_among(session, subject_type, ids, school_id)}

    def is_erased(self, session: Session, subject_type: str, subject_id: str,
                  school_id: str | None) -> bool:
        return subject_id in self.erased_among(session, subject_type, {subject_id},
                                               school_id)

    def is_offboarded(self, session: Session, school_id: str | None) -> bool:
        return school_id is not None and self.is_erased(session, "school", school_id,
                                                        school_id)

    def offboarded_among(self, session: Session,
                         school_ids: Iterable[str | None]) -> set[str]:
        t = self.tables.erasure_tombstones
        ids = [s for s in school_ids if s]
        if not ids:
            return set()
        return set(session.execute(sa.select(t.c.subject_id).where(
            t.c.subject_type == "school", t.c.school_id == t.c.subject_id,
            among(t.c.subject_id, ids))).scalars())

    def is_restricted(self, session: Session, subject_type: str, subject_id: str,
                      school_id: str | None) -> bool:
        r = self.tables.restrictions
        return bool(school_id) and session.execute(sa.select(r.c.subject_id).where(
            r.c.school_id == school_id, r.c.subject_type == subject_type,
            r.c.subject_id == subject_id)).first() is not None

    def holds_among(self, session: Session, school_id: str | None,
                    asked: Iterable[tuple[Hold, str, Iterable[str]]],
                    processing: str | None = None) -> set[tuple[str, str, str]]:
        """Several questions about subjects of the school in one query (a sender asks
        them for every batch: a round trip each cost it a tenth of its time, issue 27).
        Each question is (hold, subject type, ids), the hold Hold.ERASED, RESTRICTED or
        OBJECTED (to `processing`); the answer holds (hold, subject type, id) for each
        subject that hold applies to there."""
        if not school_id:
            return set()
        tables = {Hold.ERASED: self.tables.erasure_tombstones,
                  Hold.RESTRICTED: self.tables.restrictions,
                  Hold.OBJECTED: self.tables.objections}
        parts = []
        for hold, subject_type, subject_ids in asked:
            ids, t = sorted(set(subject_ids)), tables[hold]
            if not ids:
                continue
            # The hold as a constant of the statement (a Hold, never input): PostgreSQL
            # types no bound parameter in a UNION's select list.
            query = sa.select(sa.literal_column(f"'{hold}'").label("hold"), t.c.subject_type,
                              t.c.subject_id).where(
                t.c.school_id == school_id, t.c.subject_type == subject_type,
                among(t.c.subject_id, ids))
            if hold == Hold.OBJECTED:
                query = query.where(t.c.processing == processing)
            parts.append(query)
        if not parts:
            return set()
        return {(r.hold, r.subject_type, r.subject_id)
                for r in session.execute(sa.union_all(*parts))}

    # --- the rights events -----------------------------------------------------------
    def routes(self) -> list[Route]:
        return [route(ev.ErasureRequested, self.on_erasure_requested),
                route(ev.AccessRequested, self.on_access_requested),
                route(ev.ProcessingRestricted, self.on_processing_restricted),
                route(ev.RestrictionLifted, self.on_restriction_lifted),
                route(ev.ObjectionRecorded, self.on_objection_recorded),
                route(ev.SchoolOffboarded, self.on_school_offboarded)]

    def _answer(self, session: Session, event: Event[RightsEvent], answer_type: str,
                work: Callable[[], Any], **extra: Any) -> None:
        """Run `work` in a savepoint; answer done with its counts, or failed with a reason."""
        env = event.envelope
        answer: dict[str, Any] = {"request_id": env.id, "service": self.service}
        try:
            with session.begin_nested():
                result = work()
        except Exception as exc:
            if isinstance(exc, sa.exc.OperationalError) or database_unavailable(exc):
                raise  # deadlock, lost connection, no primary: the consumer retries
            log.warning("rights request failed request_id=%s type=%s service=%s error=%s",
                        env.id, env.type, self.service, type(exc).__name__)
            answer.update(outcome="failed", reason=f"{type(exc).__name__} in {self.service}",
                          counts={})
            answer.update({k: v for k, v in extra.items() if k != "tables"})
        else:
            counts, more = result if isinstance(result, tuple) else (result, {})
            answer.update(outcome="done", counts=counts, **extra, **more)
        answer["signature"] = self._signed(session, event, answer_type, answer)
        self.outbox.add(session, answer_type, answer, school_id=env.school_id)

    def _signed(self, session: Session, event: Event[RightsEvent], answer_type: str,
                answer: dict[str, Any]) -> str | None:
        """The answer as a JWS under the service's receipt key: which request, about whom,
        what was done (counts per table, never the data) and when (shared/receipts)."""
        if self.receipts is None:
            return None
        env, data = event.envelope, event.data
        if isinstance(data, ev.SchoolOffboarded):  # the school itself, no subject request
            request_id, school_id, subject = None, data.school_id, None
        else:
            s = data.subject
            request_id, school_id = data.subject_request_id, None
            subject = {"school_id": s.school_id, "type": s.type, "id": s.id}
        claims = {"answer": answer_type, "request_event": env.id,
                  "subject_request_id": request_id, "school_id": env.school_id or school_id,
                  "subject": subject, "service": self.service, "outcome": answer["outcome"],
                  "counts": answer["counts"], "reason": answer.get("reason"),
                  "at": utcnow().isoformat()}
        claims.update({k: answer[k] for k in ("restricted",) if k in answer})
        if isinstance(data, ev.ObjectionRecorded):
            claims["processing"] = data.processing
        return self.receipts.sign(session, claims)

    @staticmethod
    def _subject(data: SubjectRequest) -> Subject:
        s = data.subject
        return Subject(school_id=s.school_id, type=s.type, id=s.id)

    def _exported(self, session: Session, subject: Subject
                  ) -> tuple[dict[str, int], dict[str, Any]]:
        tables = self.export(session, subject)
        return {name: len(rows) for name, rows in tables.items()}, {"tables": tables}

    def on_erasure_requested(self, session: Session,
                             events: Sequence[Event[ev.ErasureRequested]]) -> None:
        for event in events:
            subject = self._subject(event.data)
            lock_school_data(session, [subject.school_id])
            purge_after_commit(session)
            self._answer(session, event, "ErasureCompleted",
                         partial(self.erase, session, subject))

    def on_access_requested(self, session: Session,
                            events: Sequence[Event[ev.AccessRequested]]) -> None:
        for event in events:
            self._answer(session, event, "SubjectDataExported",
                         partial(self._exported, session, self._subject(event.data)))

    def on_processing_restricted(self, session: Session,
                                 events: Sequence[Event[ev.ProcessingRestricted]]) -> None:
        for event in events:
            subject = self._subject(event.data)
            self._answer(session, event, "RestrictionApplied",
                         partial(self.restrict, session, subject, True), restricted=True)

    def on_restriction_lifted(self, session: Session,
                              events: Sequence[Event[ev.RestrictionLifted]]) -> None:
        for event in events:
            subject = self._subject(event.data)
            self._answer(session, event, "RestrictionApplied",
                         partial(self.restrict, session, subject, False), restricted=False)

    def on_objection_recorded(self, session: Session,
                              events: Sequence[Event[ev.ObjectionRecorded]]) -> None:
        for event in events:
            subject, processing = self._subject(event.data), event.data.processing
            self._answer(session, event, "ObjectionApplied",
                         partial(self.record_objection, session, subject, processing))

    def on_school_offboarded(self, session: Session,
                             events: Sequence[Event[ev.SchoolOffboarded]]) -> None:
        for event in events:
            school_id = event.data.school_id
            lock_school_data(session, [school_id])
            purge_after_commit(session)
            self._answer(session, event, "OffboardingCompleted",
                         partial(self.offboard, session, school_id))
