"""Examples of ingest's main requests and answers, for its OpenAPI document (issue 28)."""
from shared.examples import JOB_ID, NOW, SCHOOL_ID

BATCH = {"batch_id": "sis-2026-11-20-0930", "events": [
    {"type": "student.upserted", "source_id": "STU-1001", "data": {
        "given_name": "Robin", "family_name": "Pupil", "date_of_birth": "2015-04-12",
        "form_group": "5B", "year_group": 5}},
    {"type": "guardian.upserted", "source_id": "GRD-2001", "data": {
        "given_name": "Sam", "family_name": "Parent", "email": "sam.parent@example.org",
        "students": [{"student_id": "STU-1001", "relationship": "mother",
                      "receives_reports": True}]}},
    {"type": "attainment.recorded", "source_id": "ATT-3001", "data": {
        "student_id": "STU-1001", "class_id": "CLS-501", "period": "2026-27 Autumn",
        "kind": "grade", "value": "B"}}]}
BATCH_RESULT = {"batch_id": "sis-2026-11-20-0930", "accepted": 2, "rejected": [
    {"index": 2, "error": "data.class_id: unknown class", "source_id": "ATT-3001"}]}
ROSTER_JOB = {"job_id": JOB_ID, "status": "applied",
              "status_url": f"/api/v1/school-data/oneroster/jobs/{JOB_ID}",
              "received_at": NOW, "finished_at": NOW, "size": 48213, "schools": [SCHOOL_ID],
              "progress": None, "faults": [],
              "result": {"bundle_id": "oneroster:3f1a", "files": {"users.csv": "bulk"},
                         "rows": 412, "events": 410, "published": 398,
                         "already_applied": False, "ignored": [], "other_orgs": {}}}
