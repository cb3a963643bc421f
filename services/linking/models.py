"""The linking service's own database: the school's parent-child records, the students'
names and dates of birth (held nowhere else), and the links parents verify."""
from __future__ import annotations

import sqlalchemy as sa

from shared.db import UtcDateTime
from shared.removals import define_removed_records
from shared.tables import define_plumbing_tables

metadata = sa.MetaData()
plumbing = define_plumbing_tables(metadata)

Id = sa.String(36)

students = sa.Table(
    "students", metadata,
    sa.Column("school_id", Id, nullable=False, index=True),
    sa.Column("student_id", Id, primary_key=True),
    sa.Column("name", sa.String(200), nullable=True),       # from StudentRecorded
    sa.Column("name_version", sa.Integer, nullable=False, default=0),
    sa.Column("date_of_birth", sa.Date, nullable=True),     # from StudentBirthDateRecorded
    sa.Column("birth_date_version", sa.Integer, nullable=False, default=0),
)

guardians = sa.Table(
    "guardians", metadata,
    sa.Column("school_id", Id, nullable=False, index=True),
    sa.Column("guardian_id", Id, primary_key=True),
    sa.Column("record_version", sa.Integer, nullable=False),  # of its children's list
)

# Which login holds a guardian record (AccountActivated); may arrive before the record.
guardian_accounts = sa.Table(
    "guardian_accounts", metadata,
    sa.Column("guardian_id", Id, primary_key=True),
    sa.Column("account_id", Id, nullable=False, index=True),
)

# The school's record of a contact's children; only receives_reports=true ever gets a link.
guardian_students = sa.Table(
    "guardian_students", metadata,
    sa.Column("school_id", Id, nullable=False),
    sa.Column("guardian_id", Id, primary_key=True),
    sa.Column("student_id", Id, primary_key=True),
    sa.Column("relationship", sa.String(100), nullable=False),
    sa.Column("receives_reports", sa.Boolean, nullable=False),
)

links = sa.Table(
    "links", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("school_id", Id, nullable=False, index=True),
    sa.Column("guardian_id", Id, nullable=False),
    sa.Column("student_id", Id, nullable=False, index=True),
    sa.Column("account_id", Id, nullable=True, index=True),
    sa.Column("status", sa.String(20), nullable=False),  # domain.LinkStatus
    sa.Column("revoked_by", sa.String(10), nullable=True),  # domain.RevokedBy, when revoked
    sa.Column("failed_attempts", sa.Integer, nullable=False, default=0),
    sa.Column("version", sa.Integer, nullable=False, default=0),  # record_version of events
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("changed_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("guardian_id", "student_id", name="uq_link_guardian_student"),
)

removed_records = define_removed_records(metadata)
