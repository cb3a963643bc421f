"""dsar is the requester, not a participant: it keeps ids of subject requests and the audit
trail for accountability, and each service's export part only until the export expires.

CLASSIFICATION classifies its columns for the data-map check; it answers no rights events
itself (DECLARATION is None), so it is not in RIGHTS_PARTICIPANTS. What it holds about a
person goes when their erasure completes (Dsar._forget_subject): the free text on the
school's requests about them or filed by them, and every export naming them.
"""
from shared.rights import NOT_PERSONAL as N
from shared.rights import DataDeclaration, Personal
from shared.rights import TableDeclaration as T

DECLARATION = None

FREE_TEXT = Personal("any", "an admin's reason, written by the school; erased with the "
                            "subject or the requester")
# The filer's note may say anything about the subject and about the filer.
NOTE = Personal("any", "the requester's note to the school; erased with the subject or the "
                       "requester")

CLASSIFICATION = DataDeclaration("dsar", tables=(
    T("requests", {"id": N, "school_id": N, "kind": N, "subject_type": N, "subject_id": N,
                   "details": NOTE, "status": N, "filed_by": N, "filed_as": N,
                   "received_at": N, "due_at": N, "extension_reason": FREE_TEXT,
                   "paused_at": N, "refusal_reason": FREE_TEXT, "completed_at": N,
                   "export_expires_at": N, "export_released_at": N, "receipt": N}),
    T("request_services", {"request_id": N, "service": N, "status": N, "reason": N,
                           "asked_at": N, "answered_at": N, "signed_answer": N},
      school_column=None),
    T("request_events", {"event_id": N, "request_id": N}, school_column=None),
    T("export_parts", {"request_id": N, "service": N,
                       "tables": Personal("any", "an access export, until it expires or an "
                                                 "erasure of anyone it names")},
      school_column=None),
    T("own_subjects", {"account_id": N, "subject_type": N, "subject_id": N, "via_link": N,
                        "school_id": N},
      school_column=None),
    T("school_languages", {"school_id": N, "default_language": N}),
    T("scheduled_erasures", {"student_id": N, "school_id": N, "erase_at": N}),
    T("audit", {"request_id": N, "at": N, "step": N, "service": N, "actor": N,
                "prev_hash": N, "hash": N}, school_column=None),
    T("audit_head", {"id": N, "seq": N, "hash": N}, school_column=None),
))
