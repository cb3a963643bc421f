"""Plumbing tables that live in every service's own database.

`define_plumbing_tables` is the current shape, the one the services' models use. Each
version is reached by migrations every service runs, never by an edit of an earlier step:
version 1 (`define_plumbing_tables_v1`, frozen: each service's first migration creates
exactly these), step 2 (`define_plumbing_tables_v2`: token revocations), step 3
(`rights_state_per_school_v3`: the rights state keyed by school).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import sqlalchemy as sa

from .db import UtcDateTime
from .receipts.keys import define_receipt_keys

if TYPE_CHECKING:
    from alembic.operations import Operations

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
    # Step 4 (issue 30): the service's receipt signing keys (shared/receipts/keys.py).
    receipt_keys: sa.Table | None = None


def define_plumbing_tables_v1(metadata: sa.MetaData) -> tuple[
        sa.Table, sa.Table, sa.Table, sa.Table, sa.Table, sa.Table, sa.Table]:
    """outbox, inbox, delivery_attempts, dead_letters, restrictions, objections,
    erasure_tombstones as the first migration made them."""
    return (*_messaging_tables_v1(metadata), *_rights_tables_v1(metadata))


def _messaging_tables_v1(metadata: sa.MetaData) -> tuple[
        sa.Table, sa.Table, sa.Table, sa.Table]:
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
    return outbox, inbox, delivery_attempts, dead_letters


def _rights_tables_v1(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
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
    return restrictions, objections, erasure_tombstones


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


def create_plumbing_tables_v1(bind: sa.Engine | sa.Connection) -> None:
    """For a service's first migration: create the version-1 plumbing tables."""
    metadata = sa.MetaData()
    define_plumbing_tables_v1(metadata)
    metadata.create_all(bind)


def drop_plumbing_tables_v1(bind: sa.Engine | sa.Connection) -> None:
    metadata = sa.MetaData()
    define_plumbing_tables_v1(metadata)
    metadata.drop_all(bind)


def create_plumbing_tables_v2(bind: sa.Engine | sa.Connection) -> None:
    """For every service's migration of step 2: create the token revocations table."""
    metadata = sa.MetaData()
    define_plumbing_tables_v2(metadata)
    metadata.create_all(bind)


def drop_plumbing_tables_v2(bind: sa.Engine | sa.Connection) -> None:
    metadata = sa.MetaData()
    define_plumbing_tables_v2(metadata)
    metadata.drop_all(bind)


# Step 3: the rights state (tombstones, restrictions, objections) is keyed by the school
# first. A request of one school names a subject of that school; keyed by type and id alone,
# a row one school wrote was read as the state of another school's record with that id (an
# erasure filed by school A about school B's teacher made B's later pushes of the teacher
# be ignored).
_RIGHTS_STATE_KEYS_V3 = {
    "erasure_tombstones": ("school_id", "subject_type", "subject_id"),
    "restrictions": ("school_id", "subject_type", "subject_id"),
    "objections": ("school_id", "subject_type", "subject_id", "processing"),
}
_RIGHTS_STATE_KEYS_V1 = {
    "erasure_tombstones": ("subject_type", "subject_id"),
    "restrictions": ("subject_type", "subject_id"),
    "objections": ("subject_type", "subject_id", "processing"),
}


def define_plumbing_tables(metadata: sa.MetaData) -> PlumbingTables:
    """Every plumbing table as it is now (step 4: the receipt keys)."""
    v1 = PlumbingTables(*define_plumbing_tables_v1(metadata),
                        define_plumbing_tables_v2(metadata))
    for table in (v1.restrictions, v1.objections, v1.erasure_tombstones):
        metadata.remove(table)
    restrictions = sa.Table(
        "restrictions", metadata,
        sa.Column("subject_type", sa.String(20), primary_key=True),
        sa.Column("subject_id", sa.String(36), primary_key=True),
        sa.Column("school_id", sa.String(36), primary_key=True),
        sa.Column("restricted_at", UtcDateTime, nullable=False),
    )
    objections = sa.Table(
        "objections", metadata,
        sa.Column("subject_type", sa.String(20), primary_key=True),
        sa.Column("subject_id", sa.String(36), primary_key=True),
        sa.Column("processing", sa.String(50), primary_key=True),
        sa.Column("school_id", sa.String(36), primary_key=True),
        sa.Column("recorded_at", UtcDateTime, nullable=False),
    )
    # An erased id (never its data) at the school that erased it, so a late event cannot
    # bring the data back there, and nothing another school holds is touched.
    erasure_tombstones = sa.Table(
        "erasure_tombstones", metadata,
        sa.Column("subject_type", sa.String(20), primary_key=True),
        sa.Column("subject_id", sa.String(36), primary_key=True),
        sa.Column("school_id", sa.String(36), primary_key=True),
        sa.Column("erased_at", UtcDateTime, nullable=False),
    )
    for table, key in ((restrictions, _RIGHTS_STATE_KEYS_V3["restrictions"]),
                       (objections, _RIGHTS_STATE_KEYS_V3["objections"]),
                       (erasure_tombstones, _RIGHTS_STATE_KEYS_V3["erasure_tombstones"])):
        # The key's column order (school first) is the order of its index.
        table.append_constraint(sa.PrimaryKeyConstraint(*key, name=f"{table.name}_pkey"))
    return replace(v1, restrictions=restrictions, objections=objections,
                   erasure_tombstones=erasure_tombstones,
                   receipt_keys=define_receipt_keys(metadata))


def _rekey(op: Operations, keys: dict[str, tuple[str, ...]]) -> None:
    bind = op.get_bind()
    for name, key in keys.items():
        if bind.dialect.name == "postgresql":
            op.drop_constraint(f"{name}_pkey", name, type_="primary")
            op.create_primary_key(f"{name}_pkey", name, list(key))
            continue
        # SQLite cannot alter a key: the table is copied into one with the new key.
        old = sa.Table(name, sa.MetaData(), autoload_with=bind)
        copy = sa.Table(f"_new_{name}", sa.MetaData(),
                        *(sa.Column(c.name, c.type, nullable=c.nullable and c.name not in key)
                          for c in old.columns),
                        sa.PrimaryKeyConstraint(*key, name=f"{name}_pkey"))
        copy.create(bind)
        columns = [c.name for c in old.columns]
        bind.execute(copy.insert().from_select(columns, sa.select(*old.c)))
        op.drop_table(name)
        op.rename_table(copy.name, name)


def rights_state_per_school_v3(op: Operations) -> None:
    """For every service's migration of step 3: key the rights state by school."""
    _rekey(op, _RIGHTS_STATE_KEYS_V3)


def rights_state_per_school_v3_downgrade(op: Operations) -> None:
    _rekey(op, _RIGHTS_STATE_KEYS_V1)
