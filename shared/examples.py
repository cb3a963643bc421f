"""Values the services' OpenAPI examples share (issue 28): made-up ids and times, so an
integrator reads one consistent story across the documents. No real person's data."""

SCHOOL_ID = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"
ACCOUNT_ID = "2b7e151b-1a2b-4c3d-9e8f-0a1b2c3d4e5f"
STUDENT_ID = "0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f"
LINK_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
REPORT_ID = "4e3d2c1b-0a9f-4e8d-9c7b-6a5f4e3d2c1b"
REQUEST_ID = "7d6c5b4a-3f2e-4d1c-8b0a-9f8e7d6c5b4a"
CLIENT_ID = "5c4b3a29-1807-4f6e-9d5c-4b3a29180706"
JOB_ID = "8f7e6d5c-4b3a-4291-8f7e-6d5c4b3a2918"
NOW = "2026-11-20T09:30:00Z"
LATER = "2026-12-18T09:30:00Z"
