"""Subject requests as the school and the filer see them: filing (and whom a parent or
student may file about), the school's decisions, deadlines, and reading them (a part of
Dsar, service.py)."""
from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.auth import Principal
from shared.contracts import typed as ev
from shared.db import among
from shared.errors import NotFound, SchoolLeft, StepUpRequired
from shared.messaging.envelope import Envelope
from shared.pages import Key, Page, keyset_page
from shared.rights.participant import lock_school_data

from . import domain
from .domain import Kind, Refused, Status
from .models import audit, own_subjects, requests
from .part import Part


class Requests(Part):
    """Filing, deciding, extending and pausing, and the views of requests."""

    # --- filing --------------------------------------------------------------------------
    def file(self, session: Session, school_id: str, kind: str, subject_type: str,
             subject_id: str | None, details: dict[str, Any], filer: str | None, role: str,
             source_id: str | None = None, trusted: bool = False,
             second_factor_recent: bool = True) -> dict[str, Any]:
        """A request about a subject given by id, or by the school's source id (then
        ingest resolves it first, and the request starts once it is known). A school
        admin's starts with no approval, so their erasure wants the second factor passed
        lately (`second_factor_recent`, as approving one does: StepUpRequired)."""
        _step_up_for_erasure(role, kind, second_factor_recent)
        # As a data event: filed before the school's offboarding is recorded (so its free
        # text is blanked when the offboarding completes), or refused.
        lock_school_data(session, [school_id], shared=True)
        if session.execute(sa.select(requests.c.id).where(
                requests.c.school_id == school_id,
                requests.c.kind == Kind.OFFBOARDING).limit(1)).first():
            raise SchoolLeft()
        now = self.clock()
        request_id = str(uuid.uuid4())
        by_school = role == "school_admin"
        session.execute(requests.insert().values(
            id=request_id, school_id=school_id, kind=kind, subject_type=subject_type,
            subject_id=subject_id, details=details, filed_by=filer, filed_as=role,
            status=Status.IN_PROGRESS if by_school else Status.AWAITING, received_at=now,
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

    def _owns(self, session: Session, account_id: str | None, subject_type: str | None,
              subject_id: str | None) -> bool:
        return subject_id is not None and session.execute(
            sa.select(own_subjects.c.account_id).where(
                own_subjects.c.account_id == account_id,
                own_subjects.c.subject_type == subject_type,
                own_subjects.c.subject_id == subject_id)).first() is not None

    # --- whom parents and students may file about ------------------------------------------
    def on_account_activated(self, session: Session, envelope: Envelope,
                             data: ev.AccountActivated) -> None:
        held = {("guardian", g) for g in data.guardian_ids} | {
            ("student", s) for s in data.student_ids}
        schools = data.record_schools or {}
        session.execute(own_subjects.delete().where(
            own_subjects.c.account_id == data.account_id,
            own_subjects.c.via_link.is_(None)))
        for subject_type, subject_id in sorted(held):
            session.execute(own_subjects.insert().values(
                account_id=data.account_id, subject_type=subject_type,
                subject_id=subject_id, via_link=None, school_id=schools.get(subject_id)))

    def on_link(self, session: Session, envelope: Envelope, data: ev.LinkEvent,
                verified: bool) -> None:
        session.execute(own_subjects.delete().where(
            own_subjects.c.via_link == data.link_id))
        if verified:
            exists = session.execute(sa.select(own_subjects.c.account_id).where(
                own_subjects.c.account_id == data.account_id,
                own_subjects.c.subject_type == "student",
                own_subjects.c.subject_id == data.student_id)).first()
            if not exists:
                session.execute(own_subjects.insert().values(
                    account_id=data.account_id, subject_type="student",
                    subject_id=data.student_id, via_link=data.link_id,
                    school_id=envelope.school_id))

    def approve(self, session: Session, request_id: str, school_ids: Collection[str],
                admin: str, second_factor_recent: bool) -> dict[str, Any]:
        """`second_factor_recent`: the admin passed the second factor lately, which an
        erasure wants (StepUpRequired otherwise)."""
        row = self._for_school(session, request_id, school_ids)
        if row.status != Status.AWAITING:
            raise Refused("This request is not waiting for the school.")
        if row.kind == Kind.ERASURE and not second_factor_recent:
            raise StepUpRequired()
        session.execute(requests.update().where(requests.c.id == request_id)
                        .values(status=Status.IN_PROGRESS))
        self._audit(session, request_id, "approved", actor=admin)
        if row.subject_id is not None:  # else it starts once ingest resolves the id
            self._start(session, request_id)
        return self.view(session, request_id)

    def refuse(self, session: Session, request_id: str, school_ids: Collection[str],
               admin: str, reason: str) -> dict[str, Any]:
        row = self._for_school(session, request_id, school_ids)
        if row.status != Status.AWAITING:
            raise Refused("This request is not waiting for the school.")
        session.execute(requests.update().where(requests.c.id == request_id).values(
            status=Status.REFUSED, refusal_reason=reason, completed_at=self.clock()))
        self._audit(session, request_id, "refused", actor=admin)
        self._announce_closed(session, request_id, "refused")
        return self.view(session, request_id)

    def complete_task(self, session: Session, request_id: str, school_ids: Collection[str],
                      admin: str) -> dict[str, Any]:
        row = self._for_school(session, request_id, school_ids)
        if row.kind != Kind.RECTIFICATION or row.status != Status.IN_PROGRESS:
            raise Refused("Only an open rectification is completed by the school.")
        session.execute(requests.update().where(requests.c.id == request_id).values(
            status=Status.COMPLETED, completed_at=self.clock()))
        self._audit(session, request_id, "completed", actor=admin)
        self._announce_closed(session, request_id, "completed")
        return self.view(session, request_id)

    # --- deadlines ---------------------------------------------------------------------------
    def extend(self, session: Session, request_id: str, school_ids: Collection[str],
               admin: str, months: int, reason: str) -> dict[str, Any]:
        row = self._for_school(session, request_id, school_ids)
        total = row.extension_months + months
        if row.status not in domain.OPEN:
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

    def pause(self, session: Session, request_id: str, school_ids: Collection[str],
              admin: str, paused: bool) -> dict[str, Any]:
        """Waiting on the requester: the clock stops, and resumes with the time added."""
        row = self._for_school(session, request_id, school_ids)
        now = self.clock()
        if paused and row.status == Status.IN_PROGRESS:
            session.execute(requests.update().where(requests.c.id == request_id)
                            .values(status=Status.PAUSED, paused_at=now))
            self._audit(session, request_id, "paused", actor=admin)
        elif not paused and row.status == Status.PAUSED:
            session.execute(requests.update().where(requests.c.id == request_id).values(
                status=Status.IN_PROGRESS, paused_at=None,
                due_at=row.due_at + (now - row.paused_at)))
            self._audit(session, request_id, "resumed", actor=admin)
        else:
            raise Refused("The request is not in a state that can be paused or resumed.")
        return self.view(session, request_id)

    def get(self, session: Session, request_id: str, principal: Principal) -> dict[str, Any]:
        row = session.execute(sa.select(requests).where(requests.c.id == request_id)).first()
        if row is None:
            raise NotFound()
        if principal.role == "school_admin" and principal.in_school(row.school_id):
            return self.view(session, request_id)
        if principal.role != "school_admin" and row.filed_by == principal.account_id:
            return self.view(session, request_id)
        raise NotFound()

    def filed_by(self, session: Session, account_id: str,
                 limit: int = 100) -> list[dict[str, Any]]:
        """The requests a parent or a student filed, newest first."""
        ids = session.execute(sa.select(requests.c.id).where(
            requests.c.filed_by == account_id).order_by(requests.c.received_at.desc())
            .limit(limit)).scalars().all()
        return [self.view(session, i) for i in ids]

    def own_subjects(self, session: Session, account_id: str) -> list[dict[str, Any]]:
        """Whom this parent or student may file about: themselves, and verified children."""
        rows = session.execute(sa.select(own_subjects.c.subject_type,
                                         own_subjects.c.subject_id,
                                         own_subjects.c.school_id).where(
            own_subjects.c.account_id == account_id).order_by(
            own_subjects.c.subject_type, own_subjects.c.subject_id)).all()
        return [{"type": r.subject_type, "id": r.subject_id, "school_id": r.school_id,
                 "yourself": r.subject_type == "guardian" or r.subject_type == "student"
                 and not self._via_link(session, account_id, r.subject_id)} for r in rows]

    @staticmethod
    def _via_link(session: Session, account_id: str, student_id: str) -> bool:
        return session.execute(sa.select(own_subjects.c.via_link).where(
            own_subjects.c.account_id == account_id,
            own_subjects.c.subject_type == "student",
            own_subjects.c.subject_id == student_id,
            own_subjects.c.via_link.is_not(None))).first() is not None

    def audit_trail(self, session: Session, request_id: str,
                    school_ids: Collection[str]) -> list[dict[str, Any]]:
        self._for_school(session, request_id, school_ids)
        rows = session.execute(sa.select(audit).where(audit.c.request_id == request_id)
                               .order_by(audit.c.id)).all()
        return [{"at": r.at, "step": r.step, "service": r.service, "actor": r.actor,
                 "seq": r.id, "hash": r.hash} for r in rows]

    def for_school(self, session: Session, school_ids: Collection[str], scope: str,
                   after: str | None, limit: int) -> Page:
        """The school's requests, newest first: `open` (awaiting the school, in progress or
        paused) or `all`; `after` is the id the previous page ended with. Offboardings are
        the operator's, not the school's."""
        query = (sa.select(requests.c.id, requests.c.received_at)
                 .where(among(requests.c.school_id, school_ids),
                        requests.c.kind != Kind.OFFBOARDING))
        if scope == "open":
            query = query.where(requests.c.status.in_(domain.OPEN))
        newest_first = [Key(requests.c.received_at, descending=True),
                        Key(requests.c.id, descending=True)]
        return keyset_page(session, query, newest_first, after, limit, position=sa.select(
            requests.c.received_at).where(requests.c.id == after,
                                          among(requests.c.school_id, school_ids))).map(
            lambda r: self.view(session, r.id))

    def overdue(self, session: Session, school_ids: Collection[str]) -> list[dict[str, Any]]:
        now = self.clock()
        ids = session.execute(sa.select(requests.c.id).where(
            among(requests.c.school_id, school_ids),
            requests.c.status.in_((Status.IN_PROGRESS, Status.AWAITING)),
            requests.c.due_at < now).order_by(requests.c.due_at)).scalars().all()
        return [self.view(session, i) for i in ids]


def _step_up_for_erasure(role: str, kind: str, second_factor_recent: bool) -> None:
    """A school admin's erasure starts with no approval: it wants the second factor passed
    lately, as approving one does."""
    if role == "school_admin" and kind == Kind.ERASURE and not second_factor_recent:
        raise StepUpRequired()
