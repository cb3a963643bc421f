"""Examples of reports' main requests and answers, for its OpenAPI document (issue 28)."""
from shared.examples import LATER, NOW, REPORT_ID, SCHOOL_ID, STUDENT_ID

PUBLISH = {"period": "2026-27 Autumn", "title": "Autumn report", "visible_from": LATER,
           "school_id": SCHOOL_ID}
PUBLISHED = {"published": 212}
REPORT = {"id": REPORT_ID, "period": "2026-27 Autumn", "title": "Autumn report",
          "published_at": NOW,
          "student": {"id": STUDENT_ID, "name": "Robin Pupil", "form_group": "5B",
                      "year_group": 5},
          "subjects": [{"subject": "Mathematics", "class": "5B Maths",
                        "teachers": ["Ms Teacher"],
                        "attainment": [{"kind": "grade", "value": "B"},
                                       {"kind": "target", "value": "A"}],
                        "characteristics": [{"kind": "effort", "value": "Good"}]}]}
REPORTS = {"items": [{"id": REPORT_ID, "period": "2026-27 Autumn", "title": "Autumn report",
                      "published_at": NOW, "updated_at": None, "withdrawn_at": None}],
           "next": None}
