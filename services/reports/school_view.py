"""What a school admin sees of the school's reports: the periods with data (to publish)
and the reports published, embargoed or not (to check what parents will see). Read only."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.db import among
from shared.errors import NotFound
from shared.pages import Key, Page, keyset_page

from .models import attainment, characteristics, parent_access, reports, students
from .schemas import report_body


def periods(session: Session, school_id: str) -> list[dict]:
    """Each period with data: how many students have data in it, how many reports were
    published for it and when last."""
    with_data: dict[str, set] = {}
    for table in (attainment, characteristics):
        for period, student_id in session.execute(
                sa.select(table.c.period, table.c.student_id).distinct()
                .where(table.c.school_id == school_id)).all():
            with_data.setdefault(period, set()).add(student_id)
    published = {r.period: r for r in session.execute(
        sa.select(reports.c.period, sa.func.count().label("reports"),
                  sa.func.max(reports.c.published_at).label("last_published_at"))
        .where(reports.c.school_id == school_id).group_by(reports.c.period)).all()}
    linked: dict[str, set] = {}  # student -> accounts with a confirmed link
    for account_id, student_id in session.execute(
            sa.select(parent_access.c.account_id, parent_access.c.student_id).where(
                parent_access.c.school_id == school_id,
                parent_access.c.verified.is_(True))).all():
        linked.setdefault(student_id, set()).add(account_id)
    names = sorted(set(with_data) | set(published), reverse=True)
    return [{"period": name, "students": len(with_data.get(name, ())),
             "parents": len(set().union(*(linked.get(s, set())
                                          for s in with_data.get(name, ())))),
             "reports": published[name].reports if name in published else 0,
             "last_published_at": published[name].last_published_at
             if name in published else None} for name in names]


def published(session: Session, school_id: str, period: str | None, after: str | None,
              limit: int, now) -> Page:
    """The school's reports, newest first, each with its student and whether parents can
    see it (`visible_from` passed, not withdrawn); a corrected report shows as the one that
    replaced it."""
    query = (sa.select(reports.c.id, reports.c.student_id, reports.c.period,
                       reports.c.title, reports.c.version, reports.c.published_at,
                       reports.c.visible_from, reports.c.updated_at,
                       reports.c.withdrawn_at, students.c.name, students.c.form_group)
             .select_from(reports.outerjoin(students,
                                            students.c.student_id == reports.c.student_id))
             .where(reports.c.school_id == school_id,
                    reports.c.replaced_by.is_(None)))  # a corrected one: its replacement
    if period is not None:
        query = query.where(reports.c.period == period)
    newest_first = [Key(reports.c.published_at, descending=True),
                    Key(reports.c.id, descending=True)]
    return keyset_page(session, query, newest_first, after, limit, position=sa.select(
        reports.c.published_at).where(reports.c.school_id == school_id,
                                      reports.c.id == after)).map(
        lambda r: {"id": r.id, "student": {"id": r.student_id, "name": r.name,
                                           "form_group": r.form_group},
                   "period": r.period, "title": r.title, "version": r.version,
                   "published_at": r.published_at, "visible_from": r.visible_from,
                   "visible": r.visible_from <= now and r.withdrawn_at is None,
                   "updated_at": r.updated_at, "withdrawn_at": r.withdrawn_at})


def draft(uc, session: Session, school_id: str, period: str, title: str | None,
          student_id: str | None, now) -> str:
    """What publishing the period would give one student (`student_id`, or the first by
    name with data in it), built from the data held now and kept nowhere: the preview a
    school admin sees before publishing. NotFound when that student has no data in it."""
    with_data: set = set()
    for table in (attainment, characteristics):
        with_data |= set(session.execute(sa.select(table.c.student_id).distinct().where(
            table.c.school_id == school_id, table.c.period == period)).scalars())
    with_data = {s for s in with_data if not uc.erased(session, "student", s, school_id)
                 and not uc.participant.is_restricted(session, "student", s, school_id)}
    if student_id is None:
        names = dict(session.execute(sa.select(students.c.student_id, students.c.name)
                                     .where(among(students.c.student_id, sorted(with_data))))
                     .all())
        student_id = min(with_data, key=lambda s: (names.get(s) or "\uffff", s),
                         default=None)
    if student_id not in with_data:
        raise NotFound()
    content = uc.snapshots(session, school_id, period, [student_id])[student_id]
    return report_body("draft", period, title or period, now, content)
