"""A school admin's console names the people of its own school (issue 24, "staff see
people, not ids"): dsar and the audit trail keep account and record ids only, and the console
asks identity for the names the school recorded, a batch of ids at a time.

Only the asking school's memberships answer: a person who is also at another school is named
as this school recorded them, and an id of another school's person answers nothing (the
same as an id nobody has). A login answers by its account id once the person accepted
the school's invitation; a record (guardian, student) by its id as soon as the school sent
it."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.db import among

from .domain import MembershipStatus
from .models import memberships

MAX_IDS = 100  # ids in one lookup, every kind together


def school_people(session: Session, school_id: str, account_ids=(), guardian_ids=(),
                  student_ids=()) -> list[dict]:
    """The school's memberships matching any of the ids: each with its account, role,
    record ids and the name the school recorded; ordered by account, then role."""
    m = memberships
    wanted = [among(column, sorted(set(ids))) for column, ids in (
        (m.c.guardian_id, guardian_ids), (m.c.student_id, student_ids)) if ids]
    if account_ids:  # a login is the school's once the person accepted its invitation
        wanted.append(sa.and_(among(m.c.account_id, sorted(set(account_ids))),
                              m.c.status == MembershipStatus.ACCEPTED))
    if not wanted:
        return []
    rows = session.execute(sa.select(m.c.account_id, m.c.role, m.c.guardian_id,
                                     m.c.student_id, m.c.name)
                           .where(m.c.school_id == school_id, sa.or_(*wanted))
                           .order_by(m.c.account_id, m.c.role, m.c.id)).all()
    return [{"account_id": r.account_id, "role": r.role, "guardian_id": r.guardian_id,
             "student_id": r.student_id, "name": r.name} for r in rows]
