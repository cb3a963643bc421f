"""Subject requests: filed (and approved when a parent or student files), fanned out as one
event to every service in the data map, tracked per service, re-asked when silent,
completed when all have answered; exports assembled; an audit trail of every step."""
from __future__ import annotations

import datetime as dt
import io
import json
import logging
import uuid
import zipfile
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

from shared.config import RIGHTS_PARTICIPANTS
from shared.csv_export import csv_table
from shared.db import purge_after_commit, utcnow
from shared.deadletters import erase_letters_naming
from shared.errors import Conflict, NotFound
from shared.messaging.outbox import Outbox

from . import domain
from .models import (audit, export_parts, own_subjects, plumbing, request_events,
                     request_services, requests, scheduled_erasures)

log = logging.getLogger(__name__)
AWAITING, IN_PROGRESS, PAUSED = "awaiting_school", "in_progress", "paused"
COMPLETED, REFUSED, FAILED = "completed", "refused", "failed"
EXPORT_LIFETIME = dt.timedelta(days=7)


class Refused(Conflict):
    """The request cannot be made in this state (a clear 409)."""
    code = "refused"


@dataclass
class Dsar:
    outbox: Outbox
    clock: Callable[[], dt.datetime] = utcnow
    reask_after: dt.timedelta = dt.timedelta(minutes=10)
    removed_retention: dt.timedelta = dt.timedelta(days=365)
    services: tuple[str, ...] = RIGHTS_PARTICIPANTS

    def _audit(self, session, request_id, step, service=None, actor=None):
        session.execute(audit.insert().values(request_id=request_id, at=self.clock(),
                                              step=step, service=service, actor=actor))

    # --- filing --------------------------------------------------------------------------
    def file(self, session, school_id: str, kind: str, subject_type: str,
             subject_id: str | None, details: dict, filer: str | None, role: str,
             source_id: str | None = None, trusted: bool = False) -> dict:
        """A request about a subject given by id, or by the school's source id (then
        ingest resolves it first, and the request starts once it is known)."""
        now = self.clock()
        request_id = str(uuid.uuid4())
        by_school = role == "school_admin"
        session.execute(requests.insert().values(
            id=request_id, school_id=school_id, kind=kind, subject_type=subject_type,
            subject_id=subject_id, details=details, filed_by=filer, filed_as=role,
            status=IN_PROGRESS if by_school else AWAITING, received_at=now,
            due_at=domain.due_at(now), extension_months=0))
        self._audit(session, request_id, "received", actor=filer)
        if role != "school_admin" and not trusted:
            if not self._owns(session, filer, subject_type, subject_id):
                raise Refused("You can file about yourself or your verified child.")
        if subject_id is None or not trusted:
            # ingest resolves a source id, and confirms an id is this school's record;
            # identity confirms a staff id that is one of the school's admins.
            session.execute(requests.update().where(requests.c.id == request_id)
                            .values(subject_id=None, details={**details,
                                                              "_claimed_id": subject_id}))
            self.outbox.add(session, "SubjectIdRequested", {
                "request_id": request_id, "subject_type": subject_type,
                "source_id": source_id, "subject_id": subject_id}, school_id=school_id)
            self._audit(session, request_id, "resolving")
        elif by_school:
            self._start(session, request_id)
        return self.view(session, request_id)

    def _owns(self, session, account_id, subject_type, subject_id) -> bool:
        return subject_id is not None and session.execute(
            sa.select(own_subjects.c.account_id).where(
                own_subjects.c.account_id == account_id,
                own_subjects.c.subject_type == subject_type,
                own_subjects.c.subject_id == subject_id)).first() is not None

    # --- whom parents and students may file about ------------------------------------------
    def on_account_activated(self, session, envelope, data) -> None:
        held = {("guardian", g) for g in data["guardian_ids"]} | {
            ("student", s) for s in data["student_ids"]}
        session.execute(own_subjects.delete().where(
            own_subjects.c.account_id == data["account_id"],
            own_subjects.c.via_link.is_(None)))
        for subject_type, subject_id in sorted(held):
            session.execute(own_subjects.insert().values(
                account_id=data["account_id"], subject_type=subject_type,
                subject_id=subject_id, via_link=None))

    def on_link(self, session, envelope, data, verified: bool) -> None:
        session.execute(own_subjects.delete().where(
            own_subjects.c.via_link == data["link_id"]))
        if verified:
            exists = session.execute(sa.select(own_subjects.c.account_id).where(
                own_subjects.c.account_id == data["account_id"],
                own_subjects.c.subject_type == "student",
                own_subjects.c.subject_id == data["student_id"])).first()
            if not exists:
                session.execute(own_subjects.insert().values(
                    account_id=data["account_id"], subject_type="student",
                    subject_id=data["student_id"], via_link=data["link_id"]))

    def on_subject_id_resolved(self, session, envelope, data) -> None:
        """One service's answer: the subject is this school's (the request goes on), or
        unknown to it; the request fails once every service that could know says so."""
        row = session.execute(sa.select(requests).where(
            requests.c.id == data["request_id"]).with_for_update()).first()
        if row is None or row.subject_id is not None or row.status == FAILED:
            return
        expected = domain.resolvers(row.subject_type, row.details.get("_claimed_id")
                                    is not None)
        if envelope.producer not in expected:
            log.warning("subject id answered by an unexpected service request_id=%s "
                        "service=%s", row.id, envelope.producer)
            return
        if data["subject_id"] is None:
            unknown_to = sorted({*row.details.get("_unknown_to", ()), envelope.producer})
            if set(unknown_to) < set(expected):  # another may still know the subject
                session.execute(requests.update().where(requests.c.id == row.id).values(
                    details={**row.details, "_unknown_to": unknown_to}))
                return
            session.execute(requests.update().where(requests.c.id == row.id).values(
                status=FAILED, refusal_reason="The school has no such record (by this id "
                "or source id)."))
            self._audit(session, row.id, "unknown_source_id")
            return
        details = {k: v for k, v in row.details.items()
                   if k not in ("_claimed_id", "_unknown_to")}
        session.execute(requests.update().where(requests.c.id == row.id)
                        .values(subject_id=data["subject_id"], details=details))
        self._audit(session, row.id, "resolved")
        if row.status in (IN_PROGRESS, PAUSED):
            self._start(session, row.id)

    # --- students the school removed -------------------------------------------------------
    def on_student_removed(self, session, envelope, data) -> None:
        erase_at = self.clock() + self.removed_retention
        session.execute(scheduled_erasures.delete().where(
            scheduled_erasures.c.student_id == data["student_id"]))
        session.execute(scheduled_erasures.insert().values(
            student_id=data["student_id"], school_id=envelope.school_id, erase_at=erase_at))

    def _erase_removed(self, session) -> int:
        due = session.execute(sa.select(scheduled_erasures).where(
            scheduled_erasures.c.erase_at <= self.clock())).all()
        for row in due:
            self.file(session, row.school_id, "erasure", "student", row.student_id, {},
                      None, "school_admin", trusted=True)
            session.execute(scheduled_erasures.delete().where(
                scheduled_erasures.c.student_id == row.student_id))
        return len(due)

    def approve(self, session, request_id: str, school_ids, admin: str) -> dict:
        row = self._for_school(session, request_id, school_ids)
        if row.status != AWAITING:
            raise Refused("This request is not waiting for the school.")
        session.execute(requests.update().where(requests.c.id == request_id)
                        .values(status=IN_PROGRESS))
        self._audit(session, request_id, "approved", actor=admin)
        if row.subject_id is not None:  # else it starts once ingest resolves the id
            self._start(session, request_id)
        return self.view(session, request_id)

    def refuse(self, session, request_id: str, school_ids, admin: str, reason: str) -> dict:
        row = self._for_school(session, request_id, school_ids)
        if row.status != AWAITING:
            raise Refused("This request is not waiting for the school.")
        session.execute(requests.update().where(requests.c.id == request_id).values(
            status=REFUSED, refusal_reason=reason, completed_at=self.clock()))
        self._audit(session, request_id, "refused", actor=admin)
        return self.view(session, request_id)

    def _start(self, session, request_id: str) -> None:
        row = session.execute(sa.select(requests).where(requests.c.id == request_id)).one()
        if row.kind == "rectification":
            # The school corrects at source and pushes; the admin completes the task.
            self._audit(session, request_id, "task_for_school")
            return
        now = self.clock()
        session.execute(request_services.insert(), [
            {"request_id": request_id, "service": s, "status": "pending", "asked_at": now,
             "asks": 1} for s in self.services])
        self._ask(session, row)

    def _ask(self, session, row) -> None:
        """One request event to every service in the data map (a re-ask is a new event,
        answered like the first)."""
        if row.kind == "offboarding":
            return  # SchoolOffboarded (identity's event) is the request itself
        event_type = domain.REQUEST_EVENTS[row.kind]
        if row.kind == "restriction" and row.details.get("lift"):
            event_type = "RestrictionLifted"
        data = {"subject": {"school_id": row.school_id, "type": row.subject_type,
                            "id": row.subject_id}, "subject_request_id": row.id}
        if event_type == "ObjectionRecorded":
            data["processing"] = row.details.get("processing", "report_emails")
        envelope = self.outbox.add(session, event_type, data, school_id=row.school_id)
        session.execute(request_events.insert().values(event_id=envelope.id,
                                                       request_id=row.id))
        self._audit(session, row.id, "sent")

    def complete_task(self, session, request_id: str, school_ids, admin: str) -> dict:
        row = self._for_school(session, request_id, school_ids)
        if row.kind != "rectification" or row.status != IN_PROGRESS:
            raise Refused("Only an open rectification is completed by the school.")
        session.execute(requests.update().where(requests.c.id == request_id).values(
            status=COMPLETED, completed_at=self.clock()))
        self._audit(session, request_id, "completed", actor=admin)
        return self.view(session, request_id)

    # --- offboarding (identity's SchoolOffboarded is the request) --------------------------
    def on_school_offboarded(self, session, envelope, data) -> None:
        now = self.clock()
        request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"offboarding/{envelope.id}"))
        session.execute(requests.insert().values(
            id=request_id, school_id=data["school_id"], kind="offboarding",
            subject_type=None, subject_id=None, details={}, status=IN_PROGRESS,
            received_at=now, due_at=domain.due_at(now), extension_months=0))
        session.execute(request_events.insert().values(event_id=envelope.id,
                                                       request_id=request_id))
        session.execute(request_services.insert(), [
            {"request_id": request_id, "service": s, "status": "pending", "asked_at": now,
             "asks": 1} for s in self.services])
        self._audit(session, request_id, "received")

    # --- answers -----------------------------------------------------------------------------
    def on_answer(self, session, envelope, data) -> None:
        request_id = session.execute(sa.select(request_events.c.request_id).where(
            request_events.c.event_id == data["request_id"])).scalar()
        if request_id is None:
            log.warning("answer to an unknown request event_id=%s service=%s",
                        data["request_id"], data["service"])
            return
        # One answer at a time per request: the last two answering at once cannot both
        # miss the completion.
        session.execute(sa.select(requests.c.id).where(requests.c.id == request_id)
                        .with_for_update())
        service = data["service"]
        status = "done" if data["outcome"] == "done" else "failed"
        session.execute(request_services.update().where(
            request_services.c.request_id == request_id,
            request_services.c.service == service).values(
            status=status, reason=data.get("reason"), answered_at=self.clock()))
        if envelope.type == "SubjectDataExported" and status == "done":
            session.execute(export_parts.delete().where(
                export_parts.c.request_id == request_id, export_parts.c.service == service))
            session.execute(export_parts.insert().values(request_id=request_id,
                                                         service=service,
                                                         tables=data.get("tables", {})))
        self._audit(session, request_id, f"answered_{status}", service=service)
        self._maybe_complete(session, request_id)

    def _maybe_complete(self, session, request_id: str) -> None:
        statuses = dict(session.execute(sa.select(request_services.c.service,
                                                  request_services.c.status).where(
            request_services.c.request_id == request_id)).all())
        if not statuses or any(s != "done" for s in statuses.values()):
            if statuses and all(s != "pending" for s in statuses.values()):
                session.execute(requests.update().where(
                    requests.c.id == request_id, requests.c.status == IN_PROGRESS)
                    .values(status=FAILED))
                # Parts of an export that will not be completed are not kept.
                session.execute(export_parts.delete().where(
                    export_parts.c.request_id == request_id))
            return
        row = session.execute(sa.select(requests).where(requests.c.id == request_id)).one()
        values = {"status": COMPLETED, "completed_at": self.clock()}
        if row.kind in ("access", "portability"):
            values["export_expires_at"] = self.clock() + EXPORT_LIFETIME
        session.execute(requests.update().where(requests.c.id == request_id).values(**values))
        self._audit(session, request_id, "completed")
        if row.kind == "erasure":
            self._forget_subject(session, row)
        elif row.kind == "offboarding":
            self._forget_school(session, row.school_id)
        log.info("subject request completed request_id=%s kind=%s", request_id, row.kind)

    # --- what dsar itself holds about an erased subject ---------------------------------------
    def _forget_subject(self, session, erasure) -> None:
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
                           requests.c.filed_by.in_(sorted(filers)))
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

    def _forget_school(self, session, school_id: str) -> None:
        """An offboarded school: its requests stay as ids; exports and free text go."""
        ids = set(session.execute(sa.select(requests.c.id).where(
            requests.c.school_id == school_id)).scalars())
        self._blank_free_text(session, ids)
        self._withdraw_exports(session, self._with_exports(session, ids))
        purge_after_commit(session)

    @staticmethod
    def _with_exports(session, ids) -> set[str]:
        if not ids:
            return set()
        return set(session.execute(sa.select(requests.c.id).where(
            requests.c.id.in_(sorted(ids)), requests.c.export_expires_at.is_not(None))
        ).scalars()) | set(session.execute(sa.select(export_parts.c.request_id).where(
            export_parts.c.request_id.in_(sorted(ids)))).scalars())

    def _blank_free_text(self, session, ids) -> None:
        for row in session.execute(sa.select(requests.c.id, requests.c.details).where(
                requests.c.id.in_(sorted(ids)))).all() if ids else ():
            session.execute(requests.update().where(requests.c.id == row.id).values(
                details={k: v for k, v in row.details.items() if k != domain.NOTE},
                **{column: None for column in domain.FREE_TEXT}))

    def _withdraw_exports(self, session, ids) -> None:
        """The export is not downloadable any more (the answer an expired one gets)."""
        if not ids:
            return
        session.execute(export_parts.delete().where(export_parts.c.request_id.in_(sorted(ids))))
        session.execute(requests.update().where(requests.c.id.in_(sorted(ids)))
                        .values(export_expires_at=None))
        for request_id in sorted(ids):
            self._audit(session, request_id, "export_withdrawn")

    def retry(self, session, request_id: str, school_ids, admin: str) -> dict:
        """Ask the services that failed (or are silent) again."""
        row = self._for_school(session, request_id, school_ids)
        if row.status not in (IN_PROGRESS, FAILED) or row.kind in ("rectification",
                                                                    "offboarding") \
                or row.subject_id is None:
            raise Refused("Nothing to retry: only a request sent to the services is "
                          "asked again (offboarding is re-sent by the operator).")
        session.execute(request_services.update().where(
            request_services.c.request_id == request_id,
            request_services.c.status != "done").values(status="pending"))
        session.execute(requests.update().where(requests.c.id == request_id)
                        .values(status=IN_PROGRESS))
        self._audit(session, request_id, "retried", actor=admin)
        self._reask(session, row)
        return self.view(session, request_id)

    def _reask(self, session, row) -> None:
        now = self.clock()
        session.execute(request_services.update().where(
            request_services.c.request_id == row.id,
            request_services.c.status == "pending").values(
            asked_at=now, asks=request_services.c.asks + 1))
        self._ask(session, row)

    def sweep(self, session) -> int:
        """Re-ask requests with a service silent for too long; expire old exports."""
        now = self.clock()
        stuck_ids = session.execute(
            sa.select(requests.c.id).join(request_services,
                                          request_services.c.request_id == requests.c.id)
            .where(requests.c.status == IN_PROGRESS, requests.c.kind != "offboarding",
                   request_services.c.status == "pending",
                   request_services.c.asked_at <= now - self.reask_after)
            .distinct()).scalars().all()
        stuck = session.execute(sa.select(requests).where(
            requests.c.id.in_(stuck_ids))).all() if stuck_ids else []
        for row in stuck:
            self._audit(session, row.id, "reasked")
            self._reask(session, row)
        for request_id in session.execute(sa.select(requests.c.id).where(
                requests.c.status == IN_PROGRESS, requests.c.kind != "rectification",
                ~sa.exists().where(request_services.c.request_id == requests.c.id,
                                   request_services.c.status == "pending"),
                sa.exists().where(request_services.c.request_id == requests.c.id))
                ).scalars().all():
            self._maybe_complete(session, request_id)
        self._erase_removed(session)
        expired = session.execute(sa.select(requests.c.id).where(
            requests.c.export_expires_at.is_not(None),
            requests.c.export_expires_at <= now)).scalars().all()
        if expired:
            session.execute(export_parts.delete().where(export_parts.c.request_id.in_(expired)))
            session.execute(requests.update().where(requests.c.id.in_(expired))
                            .values(export_expires_at=None))
        return len(stuck)

    # --- deadlines ---------------------------------------------------------------------------
    def extend(self, session, request_id, school_ids, admin, months: int, reason: str):
        row = self._for_school(session, request_id, school_ids)
        total = row.extension_months + months
        if row.status not in (AWAITING, IN_PROGRESS, PAUSED):
            raise Refused("Only an open request can be extended.")
        if months < 1 or total > domain.MAX_EXTENSION_MONTHS:
            raise Refused("A request can be extended by two months at most.")
        # From receipt (31 Jan + 3 months = 30 Apr), keeping any time spent paused.
        paused_for = row.due_at - domain.due_at(row.received_at, row.extension_months)
        session.execute(requests.update().where(requests.c.id == request_id).values(
            extension_months=total, extension_reason=reason,
            due_at=domain.due_at(row.received_at, total, paused_for)))
        self._audit(session, request_id, "extended", actor=admin)
        return self.view(session, request_id)

    def pause(self, session, request_id, school_ids, admin, paused: bool):
        """Waiting on the requester: the clock stops, and resumes with the time added."""
        row = self._for_school(session, request_id, school_ids)
        now = self.clock()
        if paused and row.status == IN_PROGRESS:
            session.execute(requests.update().where(requests.c.id == request_id)
                            .values(status=PAUSED, paused_at=now))
            self._audit(session, request_id, "paused", actor=admin)
        elif not paused and row.status == PAUSED:
            session.execute(requests.update().where(requests.c.id == request_id).values(
                status=IN_PROGRESS, paused_at=None, due_at=row.due_at + (now - row.paused_at)))
            self._audit(session, request_id, "resumed", actor=admin)
        else:
            raise Refused("The request is not in a state that can be paused or resumed.")
        return self.view(session, request_id)

    # --- reading ------------------------------------------------------------------------------
    def _for_school(self, session, request_id, school_ids):
        row = session.execute(sa.select(requests).where(requests.c.id == request_id)
                              .with_for_update()).first()
        if row is None or row.school_id not in school_ids:
            raise NotFound()
        return row

    def view(self, session, request_id: str) -> dict:
        row = session.execute(sa.select(requests).where(requests.c.id == request_id)).one()
        services = dict(session.execute(sa.select(request_services.c.service,
                                                  request_services.c.status).where(
            request_services.c.request_id == request_id)).all())
        due = row.due_at if row.status != PAUSED else row.due_at + (self.clock() - row.paused_at)
        if not services and row.kind != "rectification":
            services = {s: "pending" for s in self.services}  # not sent yet
        now = self.clock()
        open_ = row.status in (AWAITING, IN_PROGRESS, PAUSED)
        return {"id": row.id, "kind": row.kind, "status": row.status, "due_at": due,
                "days_left": domain.days_left(due, now), "services": services,
                "refusal_reason": row.refusal_reason,
                "details": {k: v for k, v in row.details.items() if not k.startswith("_")},
                "subject": {"type": row.subject_type, "id": row.subject_id},
                "received_at": row.received_at,
                # For the school's console: the deadline as the law counts it, and more.
                "overdue": open_ and due < now, "filed_as": row.filed_as,
                "extension_months": row.extension_months or 0,
                "extension_reason": row.extension_reason, "completed_at": row.completed_at,
                "export_expires_at": row.export_expires_at,
                "export_available": bool(row.kind in ("access", "portability")
                                         and row.status == COMPLETED
                                         and row.export_expires_at is not None
                                         and row.export_expires_at > now)}

    def get(self, session, request_id: str, principal) -> dict:
        row = session.execute(sa.select(requests).where(requests.c.id == request_id)).first()
        if row is None:
            raise NotFound()
        if principal.role == "school_admin" and principal.in_school(row.school_id):
            return self.view(session, request_id)
        if principal.role != "school_admin" and row.filed_by == principal.account_id:
            return self.view(session, request_id)
        raise NotFound()

    def filed_by(self, session, account_id: str, limit: int = 100) -> list[dict]:
        """The requests a parent or a student filed, newest first."""
        ids = session.execute(sa.select(requests.c.id).where(
            requests.c.filed_by == account_id).order_by(requests.c.received_at.desc())
            .limit(limit)).scalars().all()
        return [self.view(session, i) for i in ids]

    def own_subjects(self, session, account_id: str) -> list[dict]:
        """Whom this parent or student may file about: themselves, and verified children."""
        rows = session.execute(sa.select(own_subjects.c.subject_type,
                                         own_subjects.c.subject_id).where(
            own_subjects.c.account_id == account_id).order_by(
            own_subjects.c.subject_type, own_subjects.c.subject_id)).all()
        return [{"type": r.subject_type, "id": r.subject_id,
                 "yourself": r.subject_type == "guardian" or r.subject_type == "student"
                 and not self._via_link(session, account_id, r.subject_id)} for r in rows]

    @staticmethod
    def _via_link(session, account_id: str, student_id: str) -> bool:
        return session.execute(sa.select(own_subjects.c.via_link).where(
            own_subjects.c.account_id == account_id,
            own_subjects.c.subject_type == "student",
            own_subjects.c.subject_id == student_id,
            own_subjects.c.via_link.is_not(None))).first() is not None

    def audit_trail(self, session, request_id: str, school_ids) -> list[dict]:
        self._for_school(session, request_id, school_ids)
        rows = session.execute(sa.select(audit).where(audit.c.request_id == request_id)
                               .order_by(audit.c.id)).all()
        return [{"at": r.at, "step": r.step, "service": r.service, "actor": r.actor}
                for r in rows]

    def for_school(self, session, school_ids, scope: str, after: str | None,
                   limit: int) -> tuple[list[dict], str | None]:
        """The school's requests, newest first: `open` (awaiting the school, in progress or
        paused) or `all`; `after` is the id the previous page ended with. Offboardings are
        the operator's, not the school's."""
        query = (sa.select(requests.c.id, requests.c.received_at)
                 .where(requests.c.school_id.in_(school_ids),
                        requests.c.kind != "offboarding")
                 .order_by(requests.c.received_at.desc(), requests.c.id.desc())
                 .limit(limit + 1))
        if scope == "open":
            query = query.where(requests.c.status.in_((AWAITING, IN_PROGRESS, PAUSED)))
        if after:
            last = session.execute(sa.select(requests.c.received_at).where(
                requests.c.id == after, requests.c.school_id.in_(school_ids))).scalar()
            if last is None:
                raise NotFound()
            query = query.where(sa.or_(requests.c.received_at < last, sa.and_(
                requests.c.received_at == last, requests.c.id < after)))
        rows = session.execute(query).all()
        page = rows[:limit]
        return ([self.view(session, r.id) for r in page],
                page[-1].id if len(rows) > limit else None)

    def overdue(self, session, school_ids) -> list[dict]:
        now = self.clock()
        ids = session.execute(sa.select(requests.c.id).where(
            requests.c.school_id.in_(school_ids),
            requests.c.status.in_((IN_PROGRESS, AWAITING)),
            requests.c.due_at < now).order_by(requests.c.due_at)).scalars().all()
        return [self.view(session, i) for i in ids]

    def export_zip(self, session, request_id: str, school_ids) -> bytes:
        row = self._for_school(session, request_id, school_ids)
        if row.kind not in ("access", "portability") or row.status != COMPLETED \
                or row.export_expires_at is None or row.export_expires_at <= self.clock():
            raise NotFound()  # not ready, or expired
        parts = session.execute(sa.select(export_parts.c.service, export_parts.c.tables)
                                .where(export_parts.c.request_id == request_id)
                                .order_by(export_parts.c.service)).all()
        everything = {p.service: p.tables for p in parts}
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("export.json", json.dumps(
                {"request_id": request_id, "subject": {"type": row.subject_type,
                                                       "id": row.subject_id},
                 "services": everything}, indent=2, sort_keys=True, default=str))
            for service, tables in everything.items():
                for table, rows in tables.items():
                    if not rows:
                        continue
                    archive.writestr(f"{service}/{table}.csv", csv_table(rows))
        self._audit(session, request_id, "exported")
        return buffer.getvalue()

    # --- offboarding progress, for the operator -----------------------------------------------
    def offboardings(self, session, after: str | None = None,
                     limit: int = 50) -> tuple[list[dict], str | None]:
        """Every school's offboarding, by school id (`after`: the last school id of a
        page); a school is offboarded once, so its id names its offboarding."""
        query = (sa.select(requests.c.school_id).where(requests.c.kind == "offboarding")
                 .order_by(requests.c.school_id).limit(limit + 1))
        if after:
            query = query.where(requests.c.school_id > after)
        school_ids = session.execute(query).scalars().all()
        page = school_ids[:limit]
        return ([self.offboarding(session, s) for s in page],
                page[-1] if len(school_ids) > limit else None)

    def offboarding(self, session, school_id: str) -> dict:
        """Each service's answer to the school's SchoolOffboarded (pending until it
        answers), with the reason of any that failed."""
        row = session.execute(sa.select(requests).where(
            requests.c.school_id == school_id, requests.c.kind == "offboarding")
            .order_by(requests.c.received_at.desc()).limit(1)).first()
        if row is None:
            raise NotFound()
        answers = session.execute(sa.select(request_services).where(
            request_services.c.request_id == row.id).order_by(
            request_services.c.service)).all()
        return {"id": row.id, "school_id": row.school_id, "status": row.status,
                "received_at": row.received_at, "completed_at": row.completed_at,
                "services": {a.service: a.status for a in answers},
                "reasons": {a.service: a.reason for a in answers
                            if a.status == "failed" and a.reason}}
