"""Examples of dsar's main requests and answers, for its OpenAPI document (issue 28)."""
from shared.examples import ACCOUNT_ID, LATER, NOW, REQUEST_ID, SCHOOL_ID, STUDENT_ID

REQUEST_IN = {"kind": "access", "subject": {"type": "student", "id": STUDENT_ID},
              "details": {"note": "A copy of my child's records, please."}}
REQUEST_OUT = {"id": REQUEST_ID, "kind": "access", "status": "awaiting_school",
               "due_at": LATER, "days_left": 28, "services": {}, "refusal_reason": None,
               "details": {"note": "A copy of my child's records, please."},
               "subject": {"type": "student", "id": STUDENT_ID}, "received_at": NOW,
               "school_id": SCHOOL_ID, "overdue": False, "filed_as": "parent",
               "filed_by": ACCOUNT_ID, "extension_months": 0, "extension_reason": None,
               "completed_at": None, "export_expires_at": None, "export_available": False,
               "receipt_available": False}
