"""A school admin finding a student to look at their links: the school's students by name,
with how many links each has in each state. Read only."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.db import among
from shared.pages import Key, Page, keyset_page

from .domain import LinkStatus
from .models import links, students

STATES = tuple(LinkStatus)


def school_students(session: Session, school_id: str, name: str | None,
                    link_status: str | None, after: str | None, limit: int,
                    student_ids: list[str] | None = None) -> Page:
    """By name (then id); `name` matches any part of it, ignoring case; `link_status`
    keeps the students with a link in that state (such as the locked ones to unlock);
    `student_ids` just those."""
    sort_name = sa.func.coalesce(students.c.name, "")
    query = (sa.select(students.c.student_id, students.c.name, sort_name.label("sort_name"),
                       students.c.date_of_birth.is_(None).label("no_birth_date"))
             .where(students.c.school_id == school_id))
    if student_ids:
        query = query.where(among(students.c.student_id, student_ids))
    if name:
        query = query.where(sa.func.lower(students.c.name).contains(name.lower(),
                                                                   autoescape=True))
    if link_status:
        query = query.where(sa.exists().where(links.c.student_id == students.c.student_id,
                                              links.c.status == link_status))
    page = keyset_page(session, query, [Key(sort_name), Key(students.c.student_id)], after,
                       limit, position=sa.select(sort_name).where(
                           students.c.school_id == school_id,
                           students.c.student_id == after))
    counts: dict[str, dict[str, int]] = {r.student_id: dict.fromkeys(STATES, 0)
                                         for r in page.items}
    if counts:
        for student_id, status, count in session.execute(
                sa.select(links.c.student_id, links.c.status, sa.func.count())
                .where(among(links.c.student_id, list(counts)))
                .group_by(links.c.student_id, links.c.status)).all():
            counts[student_id][status] = count
    return page.map(lambda r: {"id": r.student_id, "name": r.name,
                               "waiting_for_date_of_birth": bool(r.no_birth_date),
                               "links": counts[r.student_id]})
