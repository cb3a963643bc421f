"""Plumbing tables that live in every service's own database.

`define_plumbing_tables_v1` is frozen at version 1: each service's first migration creates
exactly these. A later change to the plumbing adds a step (`define_plumbing_tables_v2`:
token revocations) and a migration in every service, never an edit of an earlier step.
`define_plumbing_tables` is every step, as the services' models use them.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from .db import UtcDateTime

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


@dataclass(frozen=True)
class PlumbingTables:
    outbox: sa.Table
    inbox: sa.Table
    delivery_attempts: sa.Table
    dead_letters: sa.Table
    restrictions: sa.Table
    objections: sa.Table
    erasure_tombstones: sa.Table
    token_revocations: sa.Table


def define_plumbing_tables(metadata: sa.MetaData) -> PlumbingTables:
    """Every plumbing table, at the newest step."""
    return PlumbingTables(*define_plumbing_tables_v1(metadata),
                          define_plumbing_tables_v2(metadata))


def define_plumbing_tables_v1(metadata: sa.MetaData) -> tuple[sa.Table, ...]:
    outbox = sa.Table(
        "outbox", metadata,
        sa.Column("seq", _BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("routing_key", sa.String(200), nullable=False),
        sa.Column("school_id", sa.String(36), nullable=True),
        sa.Column("payload", sa.Text, nullable=True),  # the envelope; NULL once scrubbed
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, default=0),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("sent_at", UtcDateTime, nullable=True),
        sa.Index("ix_outbox_unsent", "next_attempt_at",
                 postgresql_where=sa.text("sent_at IS NULL"),
                 sqlite_where=sa.text("sent_at IS NULL")),
        sa.Index("ix_outbox_sent_at", "sent_at"),
    )
    inbox = sa.Table(
        "inbox", metadata,
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("applied_at", UtcDateTime, nullable=False),
    )
    delivery_attempts = sa.Table(
        "delivery_attempts", metadata,
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    dead_letters = sa.Table(
        "dead_letters", metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("event_type", sa.String(100), nullable=True),
        sa.Column("routing_key", sa.String(200), nullable=True),
        sa.Column("queue", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("payload", sa.Text, nullable=True),  # the raw body, for replay
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("replayed_at", UtcDateTime, nullable=True),
        sa.Index("ix_dead_letters_created_at", "created_at"),
    )
    restrictions = sa.Table(
        "restrictions", metadata,
        sa.Column("subject_type", sa.String(20), primary_key=True),
        sa.Column("subject_id", sa.String(36), primary_key=True),
        sa.Column("school_id", sa.String(36), nullable=False),
        sa.Column("restricted_at", UtcDateTime, nullable=False),
    )
    objections = sa.Table(
        "objections", metadata,
        sa.Column("subject_type", sa.String(20), primary_key=True),
        sa.Column("subject_id", sa.String(36), primary_key=True),
        sa.Column("processing", sa.String(50), primary_key=True),
        sa.Column("school_id", sa.String(36), nullable=False),
        sa.Column("recorded_at", UtcDateTime, nullable=False),
    )
    # An erased id (never its data) so a late event cannot bring the data back.
    erasure_tombstones = sa.Table(
        "erasure_tombstones", metadata,
        sa.Column("subject_type", sa.String(20), primary_key=True),
        sa.Column("subject_id", sa.String(36), primary_key=True),
        sa.Column("school_id", sa.String(36), nullable=False),
        sa.Column("erased_at", UtcDateTime, nullable=False),
    )
    return (outbox, inbox, delivery_attempts, dead_letters, restrictions, objections,
            erasure_tombstones)


def define_plumbing_tables_v2(metadata: sa.MetaData) -> sa.Table:
    """Access tokens revoked before they expire (TokensRevoked, shared/revocations.py):
    ids and instants only, each row kept until every token it names has expired."""
    return sa.Table(
        "token_revocations", metadata,
        sa.Column("id", sa.String(36), primary_key=True),  # the TokensRevoked event's id
        sa.Column("subject_id", sa.String(36), nullable=False),  # the tokens' `sub`
        sa.Column("session_id", sa.String(36), nullable=True),  # their `sid`; NULL: all
        sa.Column("revoked_before", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Index("ix_token_revocations_expires_at", "expires_at"),
    )


def create_plumbing_tables_v1(bind) -> None:
    """For a service's first migration: create the version-1 plumbing tables."""
    metadata = sa.MetaData()
    define_plumbing_tables_v1(metadata)
    metadata.create_all(bind)


def drop_plumbing_tables_v1(bind) -> None:
    metadata = sa.MetaData()
    define_plumbing_tables_v1(metadata)
    metadata.drop_all(bind)


def create_plumbing_tables_v2(bind) -> None:
    """For every service's migration of step 2: create the token revocations table."""
    metadata = sa.MetaData()
    define_plumbing_tables_v2(metadata)
    metadata.create_all(bind)


def drop_plumbing_tables_v2(bind) -> None:
    metadata = sa.MetaData()
    define_plumbing_tables_v2(metadata)
    metadata.drop_all(bind)
