"""A batch's rows written over the stored rows of their keys (issue 27: a roster's names),
beside shared.db's insert_many."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.db import _json_rows


def update_many(session: Session, table: sa.Table, key: tuple[str, ...],
                rows: list[dict[str, Any]], *where: sa.ColumnElement[bool],
                not_older: str | None = None) -> None:
    """Rows of one table (each with the same columns, `key` among them, one row a key)
    written over the stored rows of their key that `where` also holds; with `not_older`
    (a version column) only where the stored version is not newer than the row's. A key
    not stored changes nothing. On PostgreSQL one `UPDATE … FROM` the rows as one JSON
    parameter (as insert_many), where an executemany is a statement a row; elsewhere
    that executemany."""
    if not rows:
        return
    value, params = _values(session, table, rows)
    statement = table.update().where(*[table.c[c] == value[c] for c in key], *where)
    if not_older is not None:
        statement = statement.where(table.c[not_older] <= value[not_older])
    session.execute(statement.values({c: value[c] for c in value if c not in key}), params)


def _values(session: Session, table: sa.Table, rows: list[dict[str, Any]]
            ) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """Each column's value in the statement, and the executemany's parameters (None: the
    rows are in the statement)."""
    if session.get_bind().dialect.name == "postgresql":
        given = _json_rows(table, rows)[1].subquery("updated")
        return {c: given.c[c] for c in rows[0]}, None
    # Bind names of their own: SQLAlchemy reserves the column names in SET.
    return ({c: sa.bindparam("u_" + c) for c in rows[0]},
            [{"u_" + c: v for c, v in row.items()} for row in rows])
