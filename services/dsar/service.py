"""Subject requests: filed (and approved when a parent or student files), fanned out as one
event to every service in the data map, tracked per service, re-asked when silent,
completed when all have answered; exports assembled; an audit trail of every step.

Dsar is one object per process, its use cases in a module per seam: requests as the
school and the filer see them (subject_requests.py), the fan-out and the answers
(fanout.py), exports (exports.py), offboardings (offboarding.py) and receipts
(receipts.py); what they share is declared in part.py."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from shared.config import RIGHTS_PARTICIPANTS
from shared.db import utcnow
from shared.erasure_ledger import ErasureLedger
from shared.errors import NotFound
from shared.messaging.outbox import Outbox
from shared.receipts import CHECKPOINT_TYPE, ReceiptKeys

from . import domain
from .domain import Answer, Kind, Status
from .exports import Exports
from .fanout import FanOut
from . import audit_chain
from .offboarding import Offboarding
from .models import request_services, requests
from .receipts import Receipts
from .subject_requests import Requests


@dataclass
class Dsar(Requests, FanOut, Exports, Offboarding, Receipts):
    """The dsar service's dependencies, wired once per process (bootstrap.py), and what
    every part uses: the audit trail, a request of the caller's school, its view."""
    outbox: Outbox
    clock: Callable[[], dt.datetime] = utcnow
    reask_after: dt.timedelta = dt.timedelta(minutes=10)
    removed_retention: dt.timedelta = dt.timedelta(days=365)
    services: tuple[str, ...] = RIGHTS_PARTICIPANTS
    # Every erasure sent and completed, where a restore does not roll it back.
    ledger: ErasureLedger | None = None
    # dsar's receipt keys (its participant's): it signs each completed request's receipt.
    receipt_keys: ReceiptKeys | None = None

    def _audit(self, session: Session, request_id: str, step: str,
               service: str | None = None, actor: str | None = None) -> None:
        at = self.clock()
        seq, prev, digest = audit_chain.append(session, request_id, at, step, service,
                                               actor)
        self._checkpoint(session, seq, prev, digest, at)

    def _checkpoint(self, session: Session, seq: int, prev: str, digest: str,
                    at: dt.datetime) -> None:
        """The chain's new head, signed with dsar's receipt key, to the witness
        (notifications keeps the newest head that extends the one it holds): written
        with the entry, so a head that committed is witnessed (issue 30)."""
        if self.receipt_keys is None:
            return
        token = self.receipt_keys.sign(session, audit_chain.checkpoint(seq, prev, digest, at),
                                       CHECKPOINT_TYPE)
        self.outbox.add(session, "AuditCheckpointed", {
            "seq": seq, "prev": prev, "hash": digest, "checkpoint": token}, school_id=None)

    # --- reading ------------------------------------------------------------------------------
    def _for_school(self, session: Session, request_id: str,
                    school_ids: Collection[str]) -> Row[Any]:
        row = session.execute(sa.select(requests).where(requests.c.id == request_id)
                              .with_for_update()).first()
        if row is None or row.school_id not in school_ids:
            raise NotFound()
        return row

    def view(self, session: Session, request_id: str) -> dict[str, Any]:
        row = session.execute(sa.select(requests).where(requests.c.id == request_id)).one()
        now = self.clock()
        due = row.due_at if row.status != Status.PAUSED else row.due_at + (now - row.paused_at)
        open_ = row.status in domain.OPEN
        return {"id": row.id, "kind": row.kind, "status": row.status, "due_at": due,
                "days_left": domain.days_left(due, now),
                "services": self._answers_so_far(session, row),
                "refusal_reason": row.refusal_reason,
                "details": {k: v for k, v in row.details.items() if not k.startswith("_")},
                "subject": {"type": row.subject_type, "id": row.subject_id},
                "received_at": row.received_at, "school_id": row.school_id,
                # For the school's console: the deadline as the law counts it, and more.
                "overdue": open_ and due < now, "filed_as": row.filed_as,
                "filed_by": row.filed_by,
                "extension_months": row.extension_months or 0,
                "extension_reason": row.extension_reason, "completed_at": row.completed_at,
                "export_expires_at": row.export_expires_at,
                "export_available": _export_available(row, now),
                "export_released": _export_available(row, now)
                and row.export_released_at is not None,
                "receipt_available": row.receipt is not None}

    def _answers_so_far(self, session: Session, row: Row[Any]) -> dict[str, str]:
        """Each service's answer; before the fan-out, every service pending (a
        rectification goes to no service)."""
        services = dict(session.execute(sa.select(request_services.c.service,
                                                  request_services.c.status).where(
            request_services.c.request_id == row.id)).all())
        if not services and row.kind != Kind.RECTIFICATION:
            services = {s: Answer.PENDING for s in self.services}  # not sent yet
        return services


def _export_available(row: Row[Any], now: dt.datetime) -> bool:
    """An access or portability answer can be downloaded until it expires."""
    return bool(row.kind in domain.EXPORTS and row.status == Status.COMPLETED
                and row.export_expires_at is not None and row.export_expires_at > now)
