"""A school's offboarding: identity's SchoolOffboarded is the request, tracked like an
erasure, with each service's progress for the operator (a part of Dsar, service.py)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.db import purge_after_commit
from shared.erasure_ledger import offboarding_request_id
from shared.errors import NotFound
from shared.messaging.envelope import Envelope
from shared.pages import Key, Page, keyset_page
from shared.rights.participant import lock_school_data

from . import domain
from .domain import Answer, Kind, Status
from .models import request_events, request_services, requests
from .part import Part


class Offboarding(Part):
    """Offboardings, tracked and shown."""

    # --- offboarding (identity's SchoolOffboarded is the request) --------------------------
    def on_school_offboarded(self, session: Session, envelope: Envelope,
                             data: ev.SchoolOffboarded) -> None:
        lock_school_data(session, [data.school_id])  # requests filed meanwhile: subject_requests
        now = self.clock()
        request_id = offboarding_request_id(envelope.id)  # identity's ledger row names it
        session.execute(requests.insert().values(
            id=request_id, school_id=data.school_id, kind=Kind.OFFBOARDING,
            subject_type=None, subject_id=None, details={}, status=Status.IN_PROGRESS,
            received_at=now, due_at=domain.due_at(now), extension_months=0))
        session.execute(request_events.insert().values(event_id=envelope.id,
                                                       request_id=request_id))
        session.execute(request_services.insert(), [
            {"request_id": request_id, "service": s, "status": Answer.PENDING, "asked_at": now,
             "asks": 1} for s in self.services])
        self._audit(session, request_id, "received")

    def _forget_school(self, session: Session, school_id: str) -> None:
        """An offboarded school: its requests stay as ids; exports and free text go."""
        ids = set(session.execute(sa.select(requests.c.id).where(
            requests.c.school_id == school_id)).scalars())
        self._blank_free_text(session, ids)
        self._withdraw_exports(session, self._with_exports(session, ids))
        purge_after_commit(session)

    # --- offboarding progress, for the operator -----------------------------------------------
    def offboardings(self, session: Session, after: str | None = None,
                     limit: int = 50) -> Page:
        """Every school's offboarding, by school id (`after`: the last school id of a
        page); a school is offboarded once, so its id names its offboarding."""
        return keyset_page(
            session, sa.select(requests.c.school_id).where(requests.c.kind == Kind.OFFBOARDING),
            [Key(requests.c.school_id)], after, limit).map(
            lambda r: self.offboarding(session, r.school_id))

    def offboarding(self, session: Session, school_id: str) -> dict[str, Any]:
        """Each service's answer to the school's SchoolOffboarded (pending until it
        answers), with the reason of any that failed."""
        row = session.execute(sa.select(requests).where(
            requests.c.school_id == school_id, requests.c.kind == Kind.OFFBOARDING)
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
                            if a.status == Answer.FAILED and a.reason}}
