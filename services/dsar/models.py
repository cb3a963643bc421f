"""The dsar service's own database: subject requests, each service's answer, the events
that asked, export parts until they expire, and the audit trail (ids only)."""
from __future__ import annotations

import sqlalchemy as sa

from shared.db import UtcDateTime
from shared.tables import define_plumbing_tables

metadata = sa.MetaData()
plumbing = define_plumbing_tables(metadata)

Id = sa.String(36)

requests = sa.Table(
    "requests", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("school_id", Id, nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),  # access … objection | offboarding
    sa.Column("subject_type", sa.String(20), nullable=True),
    sa.Column("subject_id", Id, nullable=True),
    sa.Column("details", sa.JSON, nullable=False),  # e.g. {"processing": "report_emails"}
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("filed_by", Id, nullable=True),
    sa.Column("filed_as", sa.String(20), nullable=True),  # the filer's role
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("extension_months", sa.Integer, nullable=False, default=0),
    sa.Column("extension_reason", sa.String(500), nullable=True),
    sa.Column("paused_at", UtcDateTime, nullable=True),
    sa.Column("refusal_reason", sa.String(500), nullable=True),
    sa.Column("completed_at", UtcDateTime, nullable=True),
    sa.Column("export_expires_at", UtcDateTime, nullable=True),
    # The school released the export to the parent or student who asked (issue 24): they
    # download it in the app until it expires. Null: the school hands it over itself.
    sa.Column("export_released_at", UtcDateTime, nullable=True),
    # Once completed: the receipt, a JWS dsar signed over every service's signed answer
    # and the audit chain's head (issue 30; shared/receipts).
    sa.Column("receipt", sa.Text, nullable=True),
)

# One row per service in the data map: pending until it answers, done or failed.
request_services = sa.Table(
    "request_services", metadata,
    sa.Column("request_id", Id, sa.ForeignKey("requests.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("service", sa.String(30), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(500), nullable=True),
    sa.Column("asked_at", UtcDateTime, nullable=False),
    sa.Column("asks", sa.Integer, nullable=False),
    sa.Column("answered_at", UtcDateTime, nullable=True),
    sa.Column("signed_answer", sa.Text, nullable=True),  # the service's JWS, as it came
)

# Every event that asked (first ask and re-asks): answers name the event they answer.
request_events = sa.Table(
    "request_events", metadata,
    sa.Column("event_id", Id, primary_key=True),
    sa.Column("request_id", Id, sa.ForeignKey("requests.id", ondelete="CASCADE"),
              nullable=False, index=True),
)

# Each service's part of an access or portability export, until the export expires.
export_parts = sa.Table(
    "export_parts", metadata,
    sa.Column("request_id", Id, sa.ForeignKey("requests.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("service", sa.String(30), primary_key=True),
    sa.Column("tables", sa.JSON, nullable=False),
)

audit = sa.Table(
    "audit", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", Id, nullable=False, index=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("step", sa.String(40), nullable=False),
    sa.Column("service", sa.String(30), nullable=True),
    sa.Column("actor", Id, nullable=True),  # an account id
    # The hash chain (audit_chain.py): the entry before's hash, and this one's.
    sa.Column("prev_hash", sa.String(64), nullable=True),
    sa.Column("hash", sa.String(64), nullable=True),
)

# The chain's head: its last entry and hash (one row, locked by each append).
audit_head = sa.Table(
    "audit_head", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# Students the school removed, erased everywhere once the retention period has passed.
scheduled_erasures = sa.Table(
    "scheduled_erasures", metadata,
    sa.Column("student_id", Id, primary_key=True),
    sa.Column("school_id", Id, nullable=False),
    sa.Column("erase_at", UtcDateTime, nullable=False, index=True),
)

# Each school's default language (SchoolActivated, issue 29): an export's summary is in it
# where the requester's own is not known.
school_languages = sa.Table(
    "school_languages", metadata,
    sa.Column("school_id", Id, primary_key=True),
    sa.Column("default_language", sa.String(2), nullable=False),
)

# Whom a parent or student may file about: themselves (the guardian or student records
# their login holds) and, for a parent, each child of a verified link.
own_subjects = sa.Table(
    "own_subjects", metadata,
    sa.Column("account_id", Id, primary_key=True),
    sa.Column("subject_type", sa.String(20), primary_key=True),
    sa.Column("subject_id", Id, primary_key=True),
    sa.Column("via_link", Id, nullable=True),  # the link, for a verified child
    # The school whose record it is, where a request about it is filed (NULL: not known,
    # an AccountActivated of before issue 24).
    sa.Column("school_id", Id, nullable=True),
)
