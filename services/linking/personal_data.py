"""Which of the linking service's tables and columns hold personal data, and of whom.

Linking is the only service that stores a date of birth. Erasing a student removes every
link, parent-child record and the name and date of birth; erasing a guardian removes their
links and records. A tombstone keeps late events from bringing them back.
"""
from __future__ import annotations

import sqlalchemy as sa

from shared.db import among
from shared.rights import NOT_PERSONAL, DataDeclaration, Personal, RightsParticipant
from shared.rights import TableDeclaration as T

STUDENT = Personal("student", "proving a parent knows the child")

DECLARATION = DataDeclaration("linking", tables=(
    T("students", {"school_id": NOT_PERSONAL, "student_id": NOT_PERSONAL, "name": STUDENT,
                   "date_of_birth": STUDENT}, subjects={"student": "student_id"}),
    T("guardians", {"school_id": NOT_PERSONAL, "guardian_id": NOT_PERSONAL},
      subjects={"guardian": "guardian_id"}),
    T("guardian_accounts", {"guardian_id": NOT_PERSONAL, "account_id": NOT_PERSONAL},
      subjects={"guardian": "guardian_id"}, school_column=None),
    T("guardian_students", {"school_id": NOT_PERSONAL, "guardian_id": NOT_PERSONAL,
                            "student_id": NOT_PERSONAL,
                            "relationship": Personal("guardian", "the school's record")},
      subjects={"guardian": "guardian_id", "student": "student_id"}),
    T("removed_records", {"school_id": NOT_PERSONAL, "record_type": NOT_PERSONAL,
                          "record_id": NOT_PERSONAL}),
    T("links", {"id": NOT_PERSONAL, "school_id": NOT_PERSONAL, "guardian_id": NOT_PERSONAL,
                "student_id": NOT_PERSONAL, "account_id": NOT_PERSONAL,
                "status": NOT_PERSONAL, "revoked_by": NOT_PERSONAL,
                "created_at": NOT_PERSONAL, "changed_at": NOT_PERSONAL},
      subjects={"guardian": "guardian_id", "student": "student_id"}),
))


class LinkingParticipant(RightsParticipant):
    def offboard(self, session, school_id: str):
        from .models import guardian_accounts, guardians
        doomed = session.execute(sa.select(guardians.c.guardian_id).where(
            guardians.c.school_id == school_id)).scalars().all()
        counts = super().offboard(session, school_id)
        counts["guardian_accounts"] = session.execute(guardian_accounts.delete().where(
            among(guardian_accounts.c.guardian_id, doomed))).rowcount if doomed else 0
        return counts
