"""The school's view of what its system pushed: the batch ledger, newest first, and one
batch's rejections. Read only; the ledger holds counts and, per rejected event, its index,
a reason naming fields (never a value) and the event's source id (issue 24: the school finds
the record to correct by it; personal data, erased with its subject, personal_data.py)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.errors import NotFound
from shared.pages import Key, Page, keyset_page

from .models import batches

ONEROSTER_PREFIX = "oneroster:"  # RosterImport's batch ids


def _summary(row) -> dict:
    return {"batch_id": row.batch_id, "received_at": row.received_at, "events": row.events,
            "accepted": row.accepted, "rejected_count": len(row.rejected or []),
            "source": "oneroster" if row.batch_id.startswith(ONEROSTER_PREFIX) else "push"}


def list_batches(session: Session, school_id: str, after: str | None,
                 limit: int) -> Page:
    """Newest first; `after` is the batch id the previous page ended with."""
    columns = [batches.c.batch_id, batches.c.received_at, batches.c.events,
               batches.c.accepted, batches.c.rejected]
    newest_first = [Key(batches.c.received_at, descending=True),
                    Key(batches.c.batch_id, descending=True)]
    # A cursor that is not there: nothing after it.
    return keyset_page(session, sa.select(*columns).where(batches.c.school_id == school_id),
                       newest_first, after, limit, missing="empty", position=sa.select(
                           batches.c.received_at).where(batches.c.school_id == school_id,
                                                        batches.c.batch_id == after)
                       ).map(_summary)


def get_batch(session: Session, school_id: str, batch_id: str) -> dict:
    """One batch of this school with every rejected event's index and reason."""
    row = session.execute(sa.select(batches).where(
        batches.c.school_id == school_id, batches.c.batch_id == batch_id)).first()
    if row is None:
        raise NotFound()
    return {**_summary(row), "rejected": list(row.rejected or [])}
