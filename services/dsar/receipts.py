"""Receipts (issue 30): once every service has answered, dsar signs one document over
their signed answers and the audit chain's head; the school (or, for an offboarding, the
operator) downloads it and verifies it without us (shared/receipts). A part of Dsar,
service.py."""
from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.errors import NotFound
from shared.receipts import RECEIPT_TYPE

from . import audit_chain
from .domain import Kind
from .models import request_events, request_services, requests
from .part import Part


def _instant(value: dt.datetime | None) -> str | None:
    return audit_chain.at_text(value) if value is not None else None


class Receipts(Part):
    """A completed request's receipt: signed as it completes, then downloaded."""

    def _issue_receipt(self, session: Session, request_id: str) -> None:
        """Called as the request completes, right after its `completed` entry, so the
        chain's head is the request's own last entry."""
        if self.receipt_keys is None:
            return
        row = session.execute(sa.select(requests).where(requests.c.id == request_id)).one()
        answers = session.execute(sa.select(request_services.c.service,
                                            request_services.c.signed_answer).where(
            request_services.c.request_id == request_id)).all()
        events = session.execute(sa.select(request_events.c.event_id).where(
            request_events.c.request_id == request_id)).scalars().all()
        entries = audit_chain.entries_of(session, request_id)
        subject = None if row.kind == Kind.OFFBOARDING else {
            "school_id": row.school_id, "type": row.subject_type, "id": row.subject_id}
        receipt = {
            "request": {"id": row.id, "kind": row.kind, "school_id": row.school_id,
                        "subject": subject, "events": sorted(events),
                        "received_at": _instant(row.received_at),
                        "completed_at": _instant(row.completed_at)},
            "services": sorted(a.service for a in answers),
            "answers": {a.service: a.signed_answer for a in answers if a.signed_answer},
            "audit": {"head": {"seq": entries[-1]["seq"], "hash": entries[-1]["hash"]},
                      "entries": entries},
            "issued_at": _instant(self.clock()),
        }
        session.execute(requests.update().where(requests.c.id == request_id).values(
            receipt=self.receipt_keys.sign(session, receipt, RECEIPT_TYPE)))

    def receipt(self, session: Session, request_id: str, school_ids: Collection[str]) -> str:
        row = self._for_school(session, request_id, school_ids)
        if row.receipt is None or row.kind == Kind.OFFBOARDING:
            raise NotFound()  # not completed (or completed before receipts)
        self._audit(session, request_id, "receipt_downloaded")
        return str(row.receipt)

    def offboarding_receipt(self, session: Session, school_id: str) -> str:
        token = session.execute(sa.select(requests.c.receipt).where(
            requests.c.school_id == school_id, requests.c.kind == Kind.OFFBOARDING)
            .order_by(requests.c.received_at.desc()).limit(1)).scalar()
        if token is None:
            raise NotFound()
        return str(token)
