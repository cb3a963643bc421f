"""Which of the reports service's tables and columns hold personal data, and of whom.

A student's erasure removes their projections, access rows and every report about them; a
guardian's removes their access rows; a teacher's removes their name from classes and from
every published report (the snapshots keep teachers' ids for this).
"""
from __future__ import annotations

import sqlalchemy as sa

from shared.rights import NOT_PERSONAL, DataDeclaration, Personal, RightsParticipant
from shared.rights import TableDeclaration as T

from . import domain

STUDENT = Personal("student", "reporting progress")
STAFF = Personal("staff", "shown on reports")

DECLARATION = DataDeclaration("reports", tables=(
    T("students", {"student_id": NOT_PERSONAL, "school_id": NOT_PERSONAL, "name": STUDENT,
                   "form_group": STUDENT}, subjects={"student": "student_id"}),
    T("staff", {"staff_id": NOT_PERSONAL, "school_id": NOT_PERSONAL, "name": STAFF},
      subjects={"staff": "staff_id"}),
    T("classes", {"class_id": NOT_PERSONAL, "school_id": NOT_PERSONAL,
                  "name": NOT_PERSONAL, "subject": NOT_PERSONAL}),
    T("class_teachers", {"class_id": NOT_PERSONAL, "staff_id": NOT_PERSONAL,
                         "school_id": NOT_PERSONAL}, subjects={"staff": "staff_id"}),
    T("enrolments", {"class_id": NOT_PERSONAL, "student_id": NOT_PERSONAL,
                     "school_id": NOT_PERSONAL}, subjects={"student": "student_id"}),
    T("attainment", {"attainment_id": NOT_PERSONAL, "school_id": NOT_PERSONAL,
                     "student_id": NOT_PERSONAL, "class_id": NOT_PERSONAL,
                     "period": NOT_PERSONAL, "kind": NOT_PERSONAL, "value": STUDENT,
                     "topic": STUDENT}, subjects={"student": "student_id"}),
    T("characteristics", {"characteristic_id": NOT_PERSONAL, "school_id": NOT_PERSONAL,
                          "student_id": NOT_PERSONAL, "class_id": NOT_PERSONAL,
                          "period": NOT_PERSONAL, "kind": NOT_PERSONAL, "value": STUDENT},
      subjects={"student": "student_id"}),
    T("parent_access", {"link_id": NOT_PERSONAL, "school_id": NOT_PERSONAL,
                        "account_id": NOT_PERSONAL, "guardian_id": NOT_PERSONAL,
                        "student_id": NOT_PERSONAL},
      subjects={"guardian": "guardian_id", "student": "student_id"}),
    T("student_accounts", {"account_id": NOT_PERSONAL, "student_id": NOT_PERSONAL},
      subjects={"student": "student_id"}, school_column=None),
    T("removed_records", {"school_id": NOT_PERSONAL, "record_type": NOT_PERSONAL,
                          "record_id": NOT_PERSONAL}),
    T("reports", {"id": NOT_PERSONAL, "school_id": NOT_PERSONAL, "student_id": NOT_PERSONAL,
                  "period": NOT_PERSONAL, "title": NOT_PERSONAL, "published_at": NOT_PERSONAL,
                  "visible_from": NOT_PERSONAL, "replaced_by": NOT_PERSONAL,
                  "updated_at": NOT_PERSONAL, "withdrawn_at": NOT_PERSONAL,
                  "content": Personal("any", "the published report: the student's data and "
                                             "their teachers' names"),
                  "body": Personal("any", "the published report as the API answers it")},
      subjects={"student": "student_id"}),
))


class ReportsParticipant(RightsParticipant):
    def erase(self, session, subject):
        counts = super().erase(session, subject)
        if subject.type == "staff":
            counts["reports_rewritten"] = self._remove_teacher(session, subject)
        return counts

    def _remove_teacher(self, session, subject) -> int:
        from .models import reports
        from .schemas import report_body
        rows = session.execute(sa.select(
            reports.c.id, reports.c.period, reports.c.title, reports.c.published_at,
            reports.c.updated_at, reports.c.content).where(
            reports.c.school_id == subject.school_id,
            sa.cast(reports.c.content, sa.Text).like(f"%{subject.id}%"))).all()
        for row in rows:
            content = domain.without_teacher(row.content, subject.id)
            session.execute(reports.update().where(reports.c.id == row.id).values(
                content=content, body=report_body(row.id, row.period, row.title,
                                                  row.published_at, content,
                                                  row.updated_at)))
        return len(rows)
