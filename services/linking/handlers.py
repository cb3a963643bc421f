"""Event handlers of the linking service, and their one explicit map.

Rights events (and SchoolOffboarded) are answered by the shared participant
(personal_data.py). A late event about an erased subject changes nothing.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from shared.service import ServiceContext

if TYPE_CHECKING:
    from .bootstrap import UseCases


def build_handlers(ctx: ServiceContext) -> dict:
    uses: UseCases = ctx.use_cases
    linking = uses.linking

    unless_erased = ctx.participant.unless_erased

    return {
        "StudentRecorded": unless_erased("student", "student_id", linking.record_student),
        "StudentBirthDateRecorded": unless_erased("student", "student_id",
                                                  linking.record_birth_date),
        "StudentRemoved": unless_erased("student", "student_id", linking.remove_student),
        "GuardianStudentsRecorded": unless_erased("guardian", "guardian_id",
                                                  linking.record_guardian_students),
        "GuardianRemoved": unless_erased("guardian", "guardian_id", linking.remove_guardian),
        "AccountActivated": lambda session, envelope, data: linking.attach_account(
            session, data, envelope.school_id),
    }
