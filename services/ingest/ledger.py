"""The school's view of what its system pushed: the batch ledger, newest first, and one
batch's rejections. Read only; the ledger holds counts and, per rejected event, its index
and a reason naming fields (never a value), so nothing here is personal data."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.errors import NotFound

from .models import batches

ONEROSTER_PREFIX = "oneroster:"  # RosterImport's batch ids


def _summary(row) -> dict:
    return {"batch_id": row.batch_id, "received_at": row.received_at, "events": row.events,
            "accepted": row.accepted, "rejected_count": len(row.rejected or []),
            "source": "oneroster" if row.batch_id.startswith(ONEROSTER_PREFIX) else "push"}


def list_batches(session: Session, school_id: str, after: str | None,
                 limit: int) -> tuple[list[dict], str | None]:
    """Newest first; `after` is the batch id the previous page ended with."""
    columns = [batches.c.batch_id, batches.c.received_at, batches.c.events,
               batches.c.accepted, batches.c.rejected]
    query = (sa.select(*columns).where(batches.c.school_id == school_id)
             .order_by(batches.c.received_at.desc(), batches.c.batch_id.desc())
             .limit(limit + 1))
    if after:
        last = session.execute(sa.select(batches.c.received_at).where(
            batches.c.school_id == school_id, batches.c.batch_id == after)).scalar()
        if last is None:  # a cursor that is not there: nothing after it
            return [], None
        query = query.where(sa.or_(
            batches.c.received_at < last,
            sa.and_(batches.c.received_at == last, batches.c.batch_id < after)))
    rows = session.execute(query).all()
    page = rows[:limit]
    return [_summary(r) for r in page], (page[-1].batch_id if len(rows) > limit else None)


def get_batch(session: Session, school_id: str, batch_id: str) -> dict:
    """One batch of this school with every rejected event's index and reason."""
    row = session.execute(sa.select(batches).where(
        batches.c.school_id == school_id, batches.c.batch_id == batch_id)).first()
    if row is None:
        raise NotFound()
    return {**_summary(row), "rejected": list(row.rejected or [])}
