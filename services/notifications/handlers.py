"""Event handlers of the notifications service, and their one explicit map.

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
    service = uses.notifications
    participant = ctx.participant

    unless_erased = ctx.participant.unless_erased

    def link(verified: bool):
        def handler(session, envelope, data):
            school_id = envelope.school_id
            if participant.is_erased(session, "guardian", data["guardian_id"], school_id) or \
                    participant.is_erased(session, "student", data["student_id"], school_id):
                return
            service.link_changed(session, envelope.school_id, data, verified)
        return handler

    def locked(session, envelope, data):
        link(False)(session, envelope, data)
        service.on_link_locked(session, envelope, data)

    def report(session, envelope, data):
        if not participant.is_erased(session, "student", data["student_id"],
                                     envelope.school_id):
            service.on_report_published(session, envelope, data)

    def corrected(session, envelope, data):  # ReportCorrected (issue 24)
        if not participant.is_erased(session, "student", data["student_id"],
                                     envelope.school_id):
            service.on_report_corrected(session, envelope, data)

    return {
        "GuardianRecorded": unless_erased("guardian", "guardian_id", service.record_guardian),
        "GuardianRemoved": unless_erased("guardian", "guardian_id", service.remove_guardian),
        "StudentRemoved": unless_erased("student", "student_id", service.remove_student),
        "AccountActivated": lambda s, e, d: service.attach_account(s, d, e.school_id),
        "InvitationIssued": service.on_invitation,
        "PasswordResetRequested": service.on_password_reset,
        "ParentVerified": link(True),
        "LinkRevoked": link(False),
        "LinkLocked": locked,
        "ReportPublished": report,
        "ReportCorrected": corrected,
        "ReportWithdrawn": lambda s, e, d: service.on_report_withdrawn(s, e, d),
        "SchoolActivated": lambda s, e, d: service.record_school(s, d),
        "SubjectRequestClosed": service.on_request_closed,
    }
