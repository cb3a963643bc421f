"""Examples of identity's main requests and answers, for its OpenAPI document (issue 28)."""
from shared.examples import ACCOUNT_ID, CLIENT_ID, SCHOOL_ID

TOKEN_REQUEST = {"grant_type": "password", "email": "sam.parent@example.org",
                 "password": "correct horse battery staple"}
TOKEN_RESPONSE = {"access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6IjEyMyJ9.e30.c2ln",
                  "token_type": "Bearer", "expires_in": 900,
                  "refresh_token": "r1.Jq3m8Zk0pV2w", "role": "parent", "roles": ["parent"]}
ACTIVATE_REQUEST = {"token": "inv.7Hk2pQ9sX4", "password": "correct horse battery staple",
                    "language": "cy"}
LANGUAGE = {"language": "cy"}
ACTIVATED = {"status": "active", "account_id": ACCOUNT_ID}
ME = {"id": ACCOUNT_ID, "role": "parent", "roles": ["parent"], "school_ids": [SCHOOL_ID],
      "name": "Sam Parent", "email": "sam.parent@example.org", "language": "cy",
      "schools": [{"id": SCHOOL_ID, "name": "Hill School",
                   "office_email": "office@hill.example.org",
                   "office_phone": "01632 960 123"}]}
SCHOOL_CREATE = {"name": "Hill School", "student_accounts": False,
                 "authorisation": {"reference": "DPA-2026-014", "authorised_by": "The head",
                                   "date": "2026-09-01"},
                 "office_email": "office@hill.example.org", "office_phone": "01632 960 123",
                 "default_language": "cy"}
CREATED = {"id": SCHOOL_ID}
STAFF_INVITE = {"name": "Alex Admin", "email": "alex.admin@hill.example.org",
                "role": "school_admin"}
CLIENT = {"client_id": CLIENT_ID, "client_secret": "s3.Zq8wKp2mV7rT1yB4"}
