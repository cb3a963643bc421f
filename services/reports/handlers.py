"""Event handlers of the reports service, and their one explicit map.

Rights events (and SchoolOffboarded) are answered by the shared participant
(personal_data.py). A late event about an erased subject changes nothing.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from shared.messaging.consumer import with_many
from shared.service import ServiceContext

if TYPE_CHECKING:
    from .bootstrap import UseCases


def build_handlers(ctx: ServiceContext) -> dict:
    uses: UseCases = ctx.use_cases
    reports = uses.reports

    unless_erased = ctx.participant.unless_erased
    unless_erased_many = ctx.participant.unless_erased_many

    def link(verified: bool):
        def handler(session, envelope, data):
            school_id = envelope.school_id
            if reports.erased(session, "student", data["student_id"], school_id) or \
                    reports.erased(session, "guardian", data["guardian_id"], school_id):
                return
            reports.link_changed(session, envelope.school_id, data, verified)
        return handler

    return {
        "StudentRecorded": unless_erased("student", "student_id", reports.record_student),
        "StudentPlacementRecorded": unless_erased("student", "student_id",
                                                  reports.record_placement),
        "StudentRemoved": unless_erased("student", "student_id", reports.remove_student),
        "StaffRecorded": unless_erased("staff", "staff_id", reports.record_staff),
        "StaffRemoved": unless_erased("staff", "staff_id", reports.remove_staff),
        "ClassRecorded": lambda s, e, d: reports.record_class(s, e.school_id, d),
        "ClassRemoved": lambda s, e, d: reports.remove_class(s, e.school_id, d),
        # The bulk of a term: set-based forms for the consumer's batches.
        "AttainmentRecorded": with_many(
            unless_erased("student", "student_id", reports.record_attainment),
            unless_erased_many("student", "student_id", reports.record_attainments)),
        "CharacteristicRecorded": with_many(
            unless_erased("student", "student_id", reports.record_characteristic),
            unless_erased_many("student", "student_id", reports.record_characteristics)),
        "ResultsRecorded": with_many(
            unless_erased("student", "student_id", reports.record_results),
            unless_erased_many("student", "student_id", reports.record_results_many)),
        "ParentVerified": link(True),
        "LinkRevoked": link(False),
        "LinkLocked": link(False),
        "AccountActivated": lambda s, e, d: reports.student_account(s, d, e.school_id),
        "SchoolActivated": lambda s, e, d: None,  # nothing to set up per school
    }
