"""Event handlers of the identity service, and their one explicit map.

Rights events (and SchoolOffboarded) are answered by IdentityParticipant (personal_data.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from shared.messaging.consumer import PermanentError
from shared.service import ServiceContext

from . import domain
if TYPE_CHECKING:
    from .bootstrap import UseCases


def build_handlers(ctx: ServiceContext) -> dict:
    uses: UseCases = ctx.use_cases
    identity = uses.identity
    participant = ctx.participant

    def school_record(subject_type: str, key: str, apply):
        """Applies a school-data event unless its subject was erased (a late event never
        brings erased data back); an unknown or offboarded school is permanent."""
        def handler(session, envelope, data):
            if participant.is_erased(session, subject_type, data[key], envelope.school_id):
                return
            if identity.school_offboarded(session, envelope.school_id):
                return  # the school's data is gone: a straggler is dropped, not kept
            try:
                apply(session, envelope.school_id, data)
            except domain.Unknown:
                raise PermanentError(f"school {envelope.school_id} is not active") from None
            except domain.IdentityError as exc:
                raise PermanentError(f"{type(exc).__name__} for {key} {data[key]}") from None
        return handler

    def on_guardian_removed(session, school_id, data):
        identity.remove_record(session, school_id, "guardian", data["guardian_id"],
                               data["record_version"])

    def on_student_removed(session, school_id, data):
        identity.remove_record(session, school_id, "student", data["student_id"],
                               data["record_version"])

    def on_staff_removed(session, school_id, data):
        # Invited admins are accounts, not pushed staff records: nothing to remove yet.
        return None

    def on_subject_id_requested(session, envelope, data):
        """A staff subject may be one of the school's invited admins (an account, which
        ingest does not know): say whether it is one of this school's."""
        if data["subject_type"] != "staff" or not data.get("subject_id"):
            return  # pushed records and source ids are ingest's to resolve
        ctx.outbox.add(session, "SubjectIdResolved", {
            "request_id": data["request_id"],
            "subject_id": identity.staff_member(session, envelope.school_id,
                                                data["subject_id"])},
            school_id=envelope.school_id)

    return {
        "GuardianRecorded": school_record("guardian", "guardian_id", identity.record_guardian),
        "GuardianRemoved": school_record("guardian", "guardian_id", on_guardian_removed),
        "StudentRecorded": school_record("student", "student_id", identity.record_student),
        "StudentAccountRequested": school_record("student", "student_id",
                                                 identity.request_student_account),
        "StudentRemoved": school_record("student", "student_id", on_student_removed),
        "StaffRemoved": school_record("staff", "staff_id", on_staff_removed),
        "SubjectIdRequested": on_subject_id_requested,
    }
