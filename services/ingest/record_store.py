"""The `records` table read and written a batch at a time: one SELECT for every record a
batch names, one INSERT for the new ones, one UPDATE for the changed ones, whatever the
batch's size.

On PostgreSQL the batch's rows travel as one JSON parameter read back as a table
(`json_to_recordset`): encoded in C by json.dumps, rather than thousands of parameters or
arrays psycopg quotes value by value, and planned as index lookups even once psycopg
prepares the statement (a generic plan of `IN ($1, …, $1000)` scans the school's records
once per key). SQLite, for unit tests and embedded mode, reads its keys with `json_each`
and writes with executemany, which runs in-process.

Callers hold the school's push lock (`ingest:<school>`), so no two transactions write a
school's records at once and a plain INSERT cannot meet a concurrent one.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from .models import records


@dataclass
class StoredRecord:
    source_key: str
    record_type: str
    id: str
    version: int
    content_hash: str | None


def find(session: Session, school_id: str, source_keys: Iterable[str], *,
         live_only: bool = False) -> list[StoredRecord]:
    """The school's records with these source keys (those pushed and not deleted, when
    `live_only`), in one statement."""
    keys = sorted(set(source_keys))
    if not keys:
        return []
    query = sa.select(records.c.source_key, records.c.record_type, records.c.id,
                      records.c.version, records.c.content_hash).where(
        records.c.school_id == school_id, records.c.source_key.in_(_keys(session, keys)))
    if live_only:
        query = query.where(records.c.content_hash.is_not(None))
    return [StoredRecord(*row) for row in session.execute(query)]


def insert(session: Session, school_id: str, new: list[StoredRecord]) -> None:
    """Records seen for the first time, in one statement."""
    if not new:
        return
    rows = [{"source_key": r.source_key, "record_type": r.record_type, "id": r.id,
             "version": r.version, "content_hash": r.content_hash} for r in new]
    if not _is_postgresql(session):
        session.execute(records.insert(), [{"school_id": school_id, **row} for row in rows])
        return
    given = _json_rows(rows, source_key=sa.String, record_type=sa.String,
                       id=sa.String, version=sa.Integer, content_hash=sa.String)
    session.execute(records.insert().from_select(
        ["school_id", "source_key", "record_type", "id", "version", "content_hash"],
        sa.select(sa.literal(school_id, sa.String), given.c.source_key, given.c.record_type,
                  given.c.id, given.c.version, given.c.content_hash)))


def update(session: Session, school_id: str, changed: list[StoredRecord]) -> None:
    """New versions and content hashes of records seen before, in one statement."""
    if not changed:
        return
    rows = [{"source_key": r.source_key, "version": r.version,
             "content_hash": r.content_hash} for r in changed]
    if not _is_postgresql(session):
        session.execute(records.update().where(
            records.c.school_id == school_id,
            records.c.source_key == sa.bindparam("key")).values(
            version=sa.bindparam("new_version"), content_hash=sa.bindparam("new_hash")), [
            {"key": r["source_key"], "new_version": r["version"],
             "new_hash": r["content_hash"]} for r in rows])
        return
    given = _json_rows(rows, source_key=sa.String, version=sa.Integer,
                       content_hash=sa.String)
    session.execute(records.update().where(
        records.c.school_id == school_id,
        records.c.source_key == given.c.source_key).values(
        version=given.c.version, content_hash=given.c.content_hash))


def _keys(session: Session, keys: list[str]) -> sa.Select:
    """The keys as a one-column SELECT, sent as one JSON parameter. As `IN (SELECT …)`
    both databases look each key up in the primary key (SQLite would scan the JSON once
    per record of the school for a join)."""
    if _is_postgresql(session):
        given = sa.func.json_array_elements_text(sa.literal(keys, postgresql.JSON))
    else:
        given = sa.func.json_each(sa.literal(json.dumps(keys), sa.String))
    return sa.select(given.table_valued("value").c.value)


def _json_rows(rows: list[dict], **columns: type) -> sa.TableValuedAlias:
    """PostgreSQL: rows as one JSON parameter, read back as a table of these columns."""
    return (sa.func.json_to_recordset(sa.literal(rows, postgresql.JSON))
            .table_valued(*(sa.column(name, type_) for name, type_ in columns.items()))
            .render_derived("given", with_types=True))


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
