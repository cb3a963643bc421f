"""Examples of linking's main requests and answers, for its OpenAPI document (issue 28)."""
from shared.examples import LINK_ID, SCHOOL_ID, STUDENT_ID

LINKS = {"items": [{"id": LINK_ID, "student": {"id": STUDENT_ID, "name": "Robin Pupil"},
                    "status": "pending", "school_id": SCHOOL_ID,
                    "waiting_for_date_of_birth": False}], "next": None}
VERIFY = {"date_of_birth": "2015-04-12"}
VERIFIED = {"status": "verified"}
