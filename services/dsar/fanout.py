"""A request's fan-out: one event to every service in the data map, each service's answer
tracked, silent ones re-asked, the request completed once all have answered (and, for
an erasure, dsar's own copies forgotten); a part of Dsar, service.py."""
from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.db import among, purge_after_commit
from shared.deadletters import erase_letters_naming
from shared.erasure_ledger import COMPLETED, SCHOOL, SENT
from shared.messaging.envelope import Envelope

from . import domain
from .domain import EXPORT_LIFETIME, Answer, Kind, Refused, Status
from .models import (export_parts, own_subjects, plumbing, request_events,
                     request_services, requests, scheduled_erasures)
from .part import Part

log = logging.getLogger(__name__)

# One service's part of a request (domain.ANSWERS).
ServiceAnswer = (ev.ErasureCompleted | ev.SubjectDataExported | ev.RestrictionApplied
                 | ev.ObjectionApplied | ev.OffboardingCompleted)


class FanOut(Part):
    """Asking every service, and following their answers."""

    def on_subject_id_resolved(self, session: Session, envelope: Envelope,
                               data: ev.SubjectIdResolved) -> None:
        """One service's answer: the subject is this school's (the request goes on), or
        unknown to it; the request fails once every service that could know says so."""
        row = session.execute(sa.select(requests).where(
            requests.c.id == data.request_id).with_for_update()).first()
        if row is None or row.subject_id is not None or row.status == Status.FAILED:
            return
        expected = domain.resolvers(row.subject_type, row.details.get("_claimed_id")
                                    is not None)
        if envelope.producer not in expected:
            log.warning("subject id answered by an unexpected service request_id=%s "
                        "service=%s", row.id, envelope.producer)
            return
        if data.subject_id is None:
            unknown_to = sorted({*row.details.get("_unknown_to", ()), envelope.producer})
            if set(unknown_to) < set(expected):  # another may still know the subject
                session.execute(requests.update().where(requests.c.id == row.id).values(
                    details={**row.details, "_unknown_to": unknown_to}))
                return
            session.execute(requests.update().where(requests.c.id == row.id).values(
                status=Status.FAILED, refusal_reason="The school has no such record (by this id "
                "or source id)."))
            self._audit(session, row.id, "unknown_source_id")
            return
        details = {k: v for k, v in row.details.items()
                   if k not in ("_claimed_id", "_unknown_to")}
        session.execute(requests.update().where(requests.c.id == row.id)
                        .values(subject_id=data.subject_id, details=details))
        self._audit(session, row.id, "resolved")
        if row.status in (Status.IN_PROGRESS, Status.PAUSED):
            self._start(session, row.id)

    # --- students the school removed -------------------------------------------------------
    def on_student_removed(self, session: Session, envelope: Envelope,
                           data: ev.StudentRemoved) -> None:
        erase_at = self.clock() + self.removed_retention
        session.execute(scheduled_erasures.delete().where(
            scheduled_erasures.c.student_id == data.student_id))
        session.execute(scheduled_erasures.insert().values(
            student_id=data.student_id, school_id=envelope.school_id, erase_at=erase_at))

    def _erase_removed(self, session: Session) -> int:
        due = session.execute(sa.select(scheduled_erasures).where(
            scheduled_erasures.c.erase_at <= self.clock())).all()
        for row in due:
            self.file(session, row.school_id, Kind.ERASURE, "student", row.student_id, {},
                      None, "school_admin", trusted=True)
            session.execute(scheduled_erasures.delete().where(
                scheduled_erasures.c.student_id == row.student_id))
        return len(due)

    def _start(self, session: Session, request_id: str) -> None:
        row = session.execute(sa.select(requests).where(requests.c.id == request_id)).one()
        if row.kind == Kind.RECTIFICATION:
            # The school corrects at source and pushes; the admin completes the task.
            self._audit(session, request_id, "task_for_school")
            return
        now = self.clock()
        session.execute(request_services.insert(), [
            {"request_id": request_id, "service": s, "status": Answer.PENDING, "asked_at": now,
             "asks": 1} for s in self.services])
        self._to_ledger(SENT, row)
        self._ask(session, row)

    def _to_ledger(self, step: str, row: Row[Any]) -> None:
        """An erasure's step in the ledger, on its own connection: `sent` before this
        transaction commits (an erasure that goes out is always there; one rolled back
        is retried), `completed` once every service has committed theirs. An
        offboarding's `completed` too (identity wrote its `sent`), the school its subject."""
        if self.ledger is None:
            return
        if row.kind == Kind.ERASURE:
            self.ledger.record(step, row.id, row.school_id, row.subject_type, row.subject_id)
        elif row.kind == Kind.OFFBOARDING:
            self.ledger.record(step, row.id, row.school_id, SCHOOL, row.school_id)

    def _ask(self, session: Session, row: Row[Any]) -> None:
        """One request event to every service in the data map (a re-ask is a new event,
        answered like the first)."""
        if row.kind == Kind.OFFBOARDING:
            return  # SchoolOffboarded (identity's event) is the request itself
        event_type = domain.REQUEST_EVENTS[row.kind]
        if row.kind == "restriction" and row.details.get("lift"):
            event_type = "RestrictionLifted"
        data: dict[str, Any] = {"subject": {"school_id": row.school_id,
                                            "type": row.subject_type, "id": row.subject_id},
                                "subject_request_id": row.id}
        if event_type == "ObjectionRecorded":
            data["processing"] = row.details.get("processing", "report_emails")
        if event_type == "ErasureRequested":
            data["by_subject"] = self._by_subject(session, row)
        envelope = self.outbox.add(session, event_type, data, school_id=row.school_id)
        session.execute(request_events.insert().values(event_id=envelope.id,
                                                       request_id=row.id))
        self._audit(session, row.id, "sent")

    # --- answers -----------------------------------------------------------------------------
    def on_answer(self, session: Session, envelope: Envelope, data: ServiceAnswer) -> None:
        request_id = session.execute(sa.select(request_events.c.request_id).where(
            request_events.c.event_id == data.request_id)).scalar()
        if request_id is None:
            log.warning("answer to an unknown request event_id=%s service=%s",
                        data.request_id, data.service)
            return
        # One answer at a time per request: the last two answering at once cannot both
        # miss the completion.
        session.execute(sa.select(requests.c.id).where(requests.c.id == request_id)
                        .with_for_update())
        service = data.service
        status = Answer.DONE if data.outcome == "done" else Answer.FAILED
        session.execute(request_services.update().where(
            request_services.c.request_id == request_id,
            request_services.c.service == service).values(
            status=status, reason=data.reason, answered_at=self.clock(),
            signed_answer=data.signature))
        if isinstance(data, ev.SubjectDataExported) and status == Answer.DONE:
            session.execute(export_parts.delete().where(
                export_parts.c.request_id == request_id, export_parts.c.service == service))
            session.execute(export_parts.insert().values(request_id=request_id,
                                                         service=service,
                                                         tables=data.tables))
        self._audit(session, request_id, f"answered_{status}", service=service)
        self._maybe_complete(session, request_id)

    def _maybe_complete(self, session: Session, request_id: str) -> None:
        statuses = dict(session.execute(sa.select(request_services.c.service,
                                                  request_services.c.status).where(
            request_services.c.request_id == request_id)).all())
        if not statuses or any(s != Answer.DONE for s in statuses.values()):
            if statuses and all(s != Answer.PENDING for s in statuses.values()):
                session.execute(requests.update().where(
                    requests.c.id == request_id, requests.c.status == Status.IN_PROGRESS)
                    .values(status=Status.FAILED))
                # Parts of an export that will not be completed are not kept.
                session.execute(export_parts.delete().where(
                    export_parts.c.request_id == request_id))
            return
        row = session.execute(sa.select(requests).where(requests.c.id == request_id)).one()
        values = {"status": Status.COMPLETED, "completed_at": self.clock()}
        if row.kind in domain.EXPORTS:
            values["export_expires_at"] = self.clock() + EXPORT_LIFETIME
        session.execute(requests.update().where(requests.c.id == request_id).values(**values))
        self._audit(session, request_id, "completed")
        self._issue_receipt(session, request_id)
        self._announce_closed(session, request_id, "completed")
        if row.kind == Kind.ERASURE:
            self._forget_subject(session, row)
            self._to_ledger(COMPLETED, row)
        elif row.kind == Kind.OFFBOARDING:
            self._forget_school(session, row.school_id)
            self._to_ledger(COMPLETED, row)
        log.info("subject request completed request_id=%s kind=%s", request_id, row.kind)

    def _by_subject(self, session: Session, row: Row[Any]) -> bool:
        """Whether the subject filed the request themselves: a parent about a guardian
        record (they may file about their own only), a student about their own record."""
        if row.filed_as == "parent":
            return bool(row.subject_type == "guardian")
        return bool(row.filed_as == "student" and row.subject_type == "student"
                    and not self._via_link(session, row.filed_by, row.subject_id))

    def _announce_closed(self, session: Session, request_id: str, outcome: str) -> None:
        """SubjectRequestClosed, for notifications to tell the requester (and, for an
        offboarding, to mail the certificate to the school's office): ids, the school's
        reason for a refusal, and the offboarding's receipt."""
        row = session.execute(sa.select(requests).where(requests.c.id == request_id)).one()
        self.outbox.add(session, "SubjectRequestClosed", {
            "request_id": row.id, "kind": row.kind, "outcome": outcome,
            "reason": row.refusal_reason if outcome == "refused" else None,
            "filed_by": row.filed_by, "filed_as": row.filed_as,
            "lift": bool(row.details.get("lift")),
            "certificate": row.receipt if row.kind == Kind.OFFBOARDING else None},
            school_id=row.school_id)

    # --- what dsar itself holds about an erased subject ---------------------------------------
    def _forget_subject(self, session: Session, erasure: Row[Any]) -> None:
        """Every service has erased the subject; dsar's own copies go too: the exports
        that name them (taken before the erasure, still downloadable), and the free text
        on the school's requests about them or filed by them (a note may name anyone).
        The requests themselves stay, ids only, for accountability."""
        school, kind, subject_id = erasure.school_id, erasure.subject_type, erasure.subject_id
        filers = set(session.execute(sa.select(own_subjects.c.account_id).where(
            own_subjects.c.subject_type == kind, own_subjects.c.subject_id == subject_id,
            own_subjects.c.via_link.is_(None))).scalars())
        if kind == "staff":
            filers.add(subject_id)  # a member of staff files as their own account
        session.execute(own_subjects.delete().where(own_subjects.c.subject_type == kind,
                                                    own_subjects.c.subject_id == subject_id))
        concerned = sa.or_(sa.and_(requests.c.subject_type == kind,
                                   requests.c.subject_id == subject_id),
                           among(requests.c.filed_by, sorted(filers)))
        ids = set(session.execute(sa.select(requests.c.id).where(
            requests.c.school_id == school, concerned)).scalars())
        self._blank_free_text(session, ids)
        naming = set(session.execute(
            sa.select(export_parts.c.request_id).join(
                requests, requests.c.id == export_parts.c.request_id).where(
                requests.c.school_id == school,
                sa.cast(export_parts.c.tables, sa.Text).like(f"%{subject_id}%"))
        ).scalars())
        self._withdraw_exports(session, self._with_exports(session, ids) | naming)
        erase_letters_naming(session, plumbing.dead_letters, subject_id, school)
        purge_after_commit(session)

    def _blank_free_text(self, session: Session, ids: Collection[str]) -> None:
        for row in session.execute(sa.select(requests.c.id, requests.c.details).where(
                among(requests.c.id, sorted(ids)))).all() if ids else ():
            session.execute(requests.update().where(requests.c.id == row.id).values(
                details={k: v for k, v in row.details.items() if k != domain.NOTE},
                **{column: None for column in domain.FREE_TEXT}))

    def retry(self, session: Session, request_id: str, school_ids: Collection[str],
              admin: str) -> dict[str, Any]:
        """Ask the services that failed (or are silent) again."""
        row = self._for_school(session, request_id, school_ids)
        if row.status not in (Status.IN_PROGRESS, Status.FAILED) \
                or row.kind in (Kind.RECTIFICATION, Kind.OFFBOARDING) \
                or row.subject_id is None:
            raise Refused("Nothing to retry: only a request sent to the services is "
                          "asked again (offboarding is re-sent by the operator).")
        session.execute(request_services.update().where(
            request_services.c.request_id == request_id,
            request_services.c.status != Answer.DONE).values(status=Answer.PENDING))
        session.execute(requests.update().where(requests.c.id == request_id)
                        .values(status=Status.IN_PROGRESS))
        self._audit(session, request_id, "retried", actor=admin)
        self._reask(session, row)
        return self.view(session, request_id)

    def _reask(self, session: Session, row: Row[Any]) -> None:
        now = self.clock()
        session.execute(request_services.update().where(
            request_services.c.request_id == row.id,
            request_services.c.status == Answer.PENDING).values(
            asked_at=now, asks=request_services.c.asks + 1))
        self._ask(session, row)

    def sweep(self, session: Session) -> int:
        """Re-ask requests with a service silent for too long; expire old exports."""
        now = self.clock()
        stuck_ids = session.execute(
            sa.select(requests.c.id).join(request_services,
                                          request_services.c.request_id == requests.c.id)
            .where(requests.c.status == Status.IN_PROGRESS, requests.c.kind != Kind.OFFBOARDING,
                   request_services.c.status == Answer.PENDING,
                   request_services.c.asked_at <= now - self.reask_after)
            .distinct()).scalars().all()
        stuck = session.execute(sa.select(requests).where(
            among(requests.c.id, stuck_ids))).all() if stuck_ids else []
        for row in stuck:
            self._audit(session, row.id, "reasked")
            self._reask(session, row)
        for request_id in session.execute(sa.select(requests.c.id).where(
                requests.c.status == Status.IN_PROGRESS, requests.c.kind != Kind.RECTIFICATION,
                ~sa.exists().where(request_services.c.request_id == requests.c.id,
                                   request_services.c.status == Answer.PENDING),
                sa.exists().where(request_services.c.request_id == requests.c.id))
                ).scalars().all():
            self._maybe_complete(session, request_id)
        self._erase_removed(session)
        expired = session.execute(sa.select(requests.c.id).where(
            requests.c.export_expires_at.is_not(None),
            requests.c.export_expires_at <= now)).scalars().all()
        if expired:
            session.execute(export_parts.delete().where(among(export_parts.c.request_id, expired)))
            session.execute(requests.update().where(among(requests.c.id, expired))
                            .values(export_expires_at=None))
        return len(stuck)
