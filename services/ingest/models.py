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
)
