"""The reports service's own database: projections of the school's data, who may read
which student, and the published reports (snapshots)."""
from __future__ import annotations

import sqlalchemy as sa

from shared.db import UtcDateTime
from shared.removals import define_removed_records
from shared.tables import define_plumbing_tables

metadata = sa.MetaData()
plumbing = define_plumbing_tables(metadata)

Id = sa.String(36)


def _versioned(name: str, *columns: sa.Column) -> sa.Table:
    return sa.Table(name, metadata, *columns,
                    sa.Column("record_version", sa.Integer, nullable=False))


students = sa.Table(
    "students", metadata,
    sa.Column("student_id", Id, primary_key=True),
    sa.Column("school_id", Id, nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("form_group", sa.String(50), nullable=True),
    sa.Column("year_group", sa.Integer, nullable=True),
    sa.Column("name_version", sa.Integer, nullable=False, default=0),
    sa.Column("placement_version", sa.Integer, nullable=False, default=0),
)

staff = _versioned(
    "staff",
    sa.Column("staff_id", Id, primary_key=True),
    sa.Column("school_id", Id, nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),  # "Ms Ada Byron"
)

classes = _versioned(
    "classes",
    sa.Column("class_id", Id, primary_key=True),
    sa.Column("school_id", Id, nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("subject", sa.String(100), nullable=False),
)

class_teachers = sa.Table(
    "class_teachers", metadata,
    sa.Column("class_id", Id, primary_key=True),
    sa.Column("staff_id", Id, primary_key=True),
    sa.Column("school_id", Id, nullable=False, index=True),
)

enrolments = sa.Table(
    "enrolments", metadata,
    sa.Column("class_id", Id, primary_key=True),
    sa.Column("student_id", Id, primary_key=True, index=True),
    sa.Column("school_id", Id, nullable=False, index=True),
)

# Kept even when the student or class has not arrived yet (order tolerance).
attainment = _versioned(
    "attainment",
    sa.Column("attainment_id", Id, primary_key=True),
    sa.Column("school_id", Id, nullable=False, index=True),
    sa.Column("student_id", Id, nullable=False, index=True),
    sa.Column("class_id", Id, nullable=False),
    sa.Column("period", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("value", sa.String(50), nullable=False),
    sa.Column("out_of", sa.Float, nullable=True),
    sa.Column("topic", sa.String(200), nullable=True),
)

characteristics = _versioned(
    "characteristics",
    sa.Column("characteristic_id", Id, primary_key=True),
    sa.Column("school_id", Id, nullable=False, index=True),
    sa.Column("student_id", Id, nullable=False, index=True),
    sa.Column("class_id", Id, nullable=True),
    sa.Column("period", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("value", sa.String(50), nullable=False),
)

# Who may read a student's reports: verified parents (from linking's events) ...
parent_access = sa.Table(
    "parent_access", metadata,
    sa.Column("link_id", Id, primary_key=True),
    sa.Column("school_id", Id, nullable=False),
    sa.Column("account_id", Id, nullable=False),
    sa.Column("guardian_id", Id, nullable=False, index=True),
    sa.Column("student_id", Id, nullable=False, index=True),
    sa.Column("verified", sa.Boolean, nullable=False),
    sa.Column("record_version", sa.Integer, nullable=False),
    # A reader's links to one student, found in one probe on every report read.
    sa.Index("ix_parent_access_account_student", "account_id", "student_id"),
)

# ... and the students themselves (AccountActivated carries a student login's ids).
student_accounts = sa.Table(
    "student_accounts", metadata,
    sa.Column("account_id", Id, primary_key=True),
    sa.Column("student_id", Id, primary_key=True, index=True),
)

# A published report is a snapshot: later data changes do not alter it; publishing the
# period again makes a new version and both stay.
reports = sa.Table(
    "reports", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("school_id", Id, nullable=False, index=True),
    sa.Column("student_id", Id, nullable=False, index=True),
    sa.Column("period", sa.String(100), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("published_at", UtcDateTime, nullable=False),
    sa.Column("visible_from", UtcDateTime, nullable=False, index=True),
    sa.Column("announced", sa.Boolean, nullable=False),  # ReportPublished sent
    sa.Column("content", sa.JSON, nullable=False),
    # The API's answer, rendered from `content` when published (and again when an erasure
    # rewrites it) and served as it is. NULL for reports published before it was kept:
    # those are rendered when read.
    sa.Column("body", sa.Text, nullable=True),
    # Corrections (issue 24): a corrected report points at the snapshot that replaced it;
    # the replacement says when it was updated. Parents see neither a replaced nor a
    # withdrawn report.
    sa.Column("replaced_by", Id, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=True),
    sa.Column("withdrawn_at", UtcDateTime, nullable=True),
)

removed_records = define_removed_records(metadata)
