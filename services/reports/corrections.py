"""Correcting a published report (issue 24): the school replaces it with a new snapshot of
the student's data now, or withdraws it. Parents and the student see only the current
version ("updated on"), never a replaced or withdrawn one (service.shown_to_readers)."""
from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa

from shared.errors import Conflict, NotFound
from shared.rights.participant import lock_school_data

from . import schemas
from .models import reports, students
from .service import Reports, Restricted

log = logging.getLogger(__name__)


def correct(uc: Reports, session, principal, report_id: str, notify: bool,
            title: str | None = None) -> dict:
    """Replace a published report with a new snapshot of the student's data in its
    period now (the school fixed the data first). The new one keeps the original's
    publication and embargo dates and says when it was updated; parents see only it.
    If the original was announced, ReportCorrected tells notifications whether to
    email the parents who were told of it (`notify`); otherwise the new one is
    announced when its embargo passes, as any report."""
    # The school's data lock as a data event holds it (an erasure there waits for the new
    # snapshot, or it for the erasure), taken before the report's row lock: the erasure
    # takes the school's first, then deletes the row. Whose report it is, _school_report
    # says.
    school_id = session.execute(sa.select(reports.c.school_id).where(
        reports.c.id == report_id)).scalar()
    lock_school_data(session, [school_id], shared=True)
    old = _school_report(session, principal, report_id)
    if uc.erased(session, "student", old.student_id, old.school_id):
        raise NotFound()
    if uc.participant.is_restricted(session, "student", old.student_id, old.school_id):
        raise Restricted()
    contents = uc.snapshots(session, old.school_id, old.period, [old.student_id])
    content = contents[old.student_id]
    if not content.get("subjects"):
        raise Conflict("The school's system holds no results for this student in "
                       "this period any more: withdraw the report instead.")
    now = uc.clock()
    new_id = str(uuid.uuid4())
    title = title or old.title
    version = session.execute(sa.select(sa.func.max(reports.c.version)).where(
        reports.c.school_id == old.school_id, reports.c.period == old.period,
        reports.c.student_id == old.student_id)).scalar() or 0
    session.execute(reports.insert().values(
        id=new_id, school_id=old.school_id, student_id=old.student_id,
        period=old.period, title=title, version=version + 1,
        published_at=old.published_at, visible_from=old.visible_from,
        announced=old.announced, content=content, updated_at=now,
        body=schemas.report_body(new_id, old.period, title, old.published_at, content,
                                 now)))
    session.execute(reports.update().where(reports.c.id == old.id)
                    .values(replaced_by=new_id))
    if old.announced:
        name = session.execute(sa.select(students.c.name).where(
            students.c.student_id == old.student_id)).scalar()
        uc.outbox.add(session, "ReportCorrected", {
            "report_id": new_id, "replaces": old.id, "student_id": old.student_id,
            "period": old.period, "title": title, "updated_at": now,
            "notify": notify, "student_name": name}, school_id=old.school_id)
    log.info("report corrected school_id=%s report_id=%s replaced_by=%s notify=%s",
             old.school_id, old.id, new_id, notify)
    return {"id": new_id, "replaces": old.id, "updated_at": now}


def withdraw(uc: Reports, session, principal, report_id: str) -> dict:
    """Parents and the student no longer see the report; mail about it not sent yet is
    not sent (ReportWithdrawn). Withdrawing it again answers the same."""
    old = _school_report(session, principal, report_id, withdrawn_ok=True)
    if old.withdrawn_at is not None:
        return {"id": old.id, "withdrawn_at": old.withdrawn_at}
    now = uc.clock()
    session.execute(reports.update().where(reports.c.id == old.id)
                    .values(withdrawn_at=now))
    uc.outbox.add(session, "ReportWithdrawn", {
        "report_id": old.id, "student_id": old.student_id}, school_id=old.school_id)
    log.info("report withdrawn school_id=%s report_id=%s", old.school_id, old.id)
    return {"id": old.id, "withdrawn_at": now}


def _school_report(session, principal, report_id: str, withdrawn_ok=False):
    """The report, locked, if it is one of the admin's school's current reports."""
    old = session.execute(sa.select(reports).where(reports.c.id == report_id)
                          .with_for_update()).first()
    if old is None or not principal.in_school(old.school_id):
        raise NotFound()
    if old.replaced_by is not None:
        raise Conflict("This report was corrected already: correct or withdraw the "
                       "newest version.")
    if old.withdrawn_at is not None and not withdrawn_ok:
        raise Conflict("This report was withdrawn.")
    return old
