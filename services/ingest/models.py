"""The ingest service's own database: ids, a batch ledger, and the shared plumbing tables.

Ingest keeps no personal data once its events are published (the relay blanks each payload
as it is confirmed): the school's source ids are kept only as keyed hashes, records only as
their UUID, version and a hash of their last content.
"""
from __future__ import annotations

import sqlalchemy as sa

from shared.db import UtcDateTime
from shared.tables import define_plumbing_tables

metadata = sa.MetaData()
plumbing = define_plumbing_tables(metadata)

Id = sa.String(36)

# One UUID per school record, assigned the first time its source id is seen (as a record
# or as a reference from another record), so every event downstream carries UUIDs.
records = sa.Table(
    "records", metadata,
    sa.Column("school_id", Id, primary_key=True),
    # A hash of (school, record type, source id): the key lookups use, type included.
    sa.Column("source_key", sa.String(64), primary_key=True),
    sa.Column("record_type", sa.String(20), nullable=False),
    sa.Column("id", Id, nullable=False, unique=True),
    sa.Column("version", sa.Integer, nullable=False),  # last record_version published
    sa.Column("content_hash", sa.String(64), nullable=True),  # NULL: never pushed / deleted
)

# What each batch did, so the same batch_id answers the same and applies nothing twice.
batches = sa.Table(
    "batches", metadata,
    sa.Column("school_id", Id, primary_key=True),
    sa.Column("batch_id", sa.String(100), primary_key=True),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("accepted", sa.Integer, nullable=False),
    sa.Column("rejected", sa.JSON, nullable=False),  # [{"index", "error"}]: field names only
    # The pace check (pace.py): a school's batches received in the last seconds.
    sa.Index("ix_batches_school_received", "school_id", "received_at"),
)

# The roster held from OneRoster uploads, so a delta bundle can be applied: per school and
# file, the fields Pupil Progress uses of each row (docs/oneroster.md), for the people and
# relations it uses only. Results are held as their sourcedId and date only (no score).
roster_rows = sa.Table(
    "roster_rows", metadata,
    sa.Column("school_id", Id, primary_key=True),
    sa.Column("file", sa.String(20), primary_key=True),  # users, enrollments, …
    sa.Column("sourced_id", sa.String(100), primary_key=True),
    sa.Column("modified_at", UtcDateTime, nullable=True),  # the row's dateLastModified
    sa.Column("data", sa.JSON, nullable=False),
    # The person the row is about (a student, guardian or staff record id): erasure,
    # access and restriction find their rows by it.
    sa.Column("subject_id", Id, nullable=True, index=True),
)

# Users erased at the school's request, as a hash of (school, "user", sourcedId): rows of a
# later bundle that name one are ignored rather than refused as dangling references.
roster_erased = sa.Table(
    "roster_erased", metadata,
    sa.Column("school_id", Id, primary_key=True),
    sa.Column("source_key", sa.String(64), primary_key=True),
)

# The school's OneRoster choices: which contacts receive reports when OneRoster says
# nothing, and which orgs of a district or trust export are the school's own.
roster_settings = sa.Table(
    "roster_settings", metadata,
    sa.Column("school_id", Id, primary_key=True),
    sa.Column("report_contact_roles", sa.JSON, nullable=False),
    sa.Column("school_org_ids", sa.JSON, nullable=True),  # org sourcedIds; NULL: not set
)

# OneRoster uploads accepted and not yet applied, or applied (docs/oneroster.md "Upload
# jobs"): the request stores the zip here and answers 202; the worker claims the job (FOR
# UPDATE SKIP LOCKED) and applies it in one transaction, so a job accepted survives any
# process's death. The zip is deleted once the job ends; the answer (counts, faults by file
# and line, never a value) stays.
roster_jobs = sa.Table(
    "roster_jobs", metadata,
    sa.Column("job_id", Id, primary_key=True),
    sa.Column("school_id", Id, nullable=False, index=True),  # the school that uploaded
    # The schools it is applied to: [school_id], or a trust client's schools.
    sa.Column("schools", sa.JSON, nullable=False),
    sa.Column("trust", sa.Boolean, nullable=False),  # a trust's client, for its schools
    sa.Column("uploaded_by", Id, nullable=False),  # the account or client id
    # A hash of (schools, settings, bytes): the same bytes again answer the same job.
    sa.Column("job_key", sa.String(64), nullable=False, unique=True),
    sa.Column("status", sa.String(20), nullable=False),  # queued | applied | refused | failed
    sa.Column("bundle", sa.LargeBinary, nullable=True),  # the zip, until the job ends
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("result", sa.JSON, nullable=True),  # the upload's answer (counts, ignored)
    sa.Column("faults", sa.JSON, nullable=True),  # [{"file", "line", "error"}]
)

# How far the worker is with a job, written beside its transaction (a separate, short
# one), so the console can show it while the job applies.
roster_job_progress = sa.Table(
    "roster_job_progress", metadata,
    sa.Column("job_id", Id, primary_key=True),
    sa.Column("school_id", Id, nullable=False),
    sa.Column("stage", sa.String(20), nullable=False),  # reading | checking | applying | saving
    sa.Column("done", sa.Integer, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)
