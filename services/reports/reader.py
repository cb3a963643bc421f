"""Where a report read runs: one prebuilt SELECT, one row, as little around it as can be.

A report read is the service's hottest path (parents open reports in the evening, all at
once), and once the token check is cached and the answer kept since publishing, what is
left is the round trip to PostgreSQL and what surrounds it. So on PostgreSQL:

- autocommit: a single statement sees one snapshot on its own; no BEGIN and COMMIT round
  trips around it;
- a pool of its own without pre-ping, which costs a round trip per checkout (as much as the
  read), and no checkout per read either: each thread keeps one connection of that pool,
  and one cursor on it, for the life of the process (a sync gunicorn worker has one
  thread), since checking a connection out and in costs a tenth of the read's CPU. A
  connection the server dropped fails the read instead: it is let go (the pool's others
  went the same way: it is emptied) and the read, which changes nothing, is made once
  more on a new connection;
- the statement is compiled once and run on the driver's connection (prepared there),
  skipping SQLAlchemy's per-execution work (cache key, execution context, result
  processing), which costs as much CPU as the rest of the read. psycopg already returns
  every column as the statement's types would (aware timestamps, parsed JSON).

SQLite (embedded mode) runs the statement through SQLAlchemy on the service's engine, whose
types (timestamps stored as text) and transactions (BEGIN IMMEDIATE) it needs.
"""
from __future__ import annotations

import threading
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.rows import namedtuple_row

from shared.db import make_engine


class OneRowReader:
    """Runs prebuilt SELECTs (kept for the life of the process) for their first row."""

    def __init__(self, engine: sa.Engine):
        self.postgresql = engine.dialect.name == "postgresql"
        self.engine = (make_engine(engine.url.render_as_string(hide_password=False),
                                   pool_pre_ping=False, isolation_level="AUTOCOMMIT")
                       if self.postgresql else engine)
        # id(statement) -> (the statement, kept so its id stays its own; SQL; bound values)
        self._compiled: dict[int, tuple[sa.Select, str, dict[str, Any]]] = {}
        self._local = threading.local()  # .kept: this thread's connection and cursor
        self._lock = threading.Lock()
        self._kept: list[Any] = []  # every thread's connection (closed by dispose)

    def first(self, statement: sa.Select, params: dict[str, Any]):
        """The statement's first row (attributes by column label), or None."""
        if not self.postgresql:
            with self.engine.connect() as conn:
                return conn.execute(statement, params).first()
        if id(statement) not in self._compiled:
            compiled = statement.compile(dialect=self.engine.dialect)
            self._compiled[id(statement)] = statement, str(compiled), dict(compiled.params)
        _, sql, defaults = self._compiled[id(statement)]
        for attempt in (1, 2):
            conn, cursor = self._connection()
            try:
                return cursor.execute(sql, {**defaults, **params}, prepare=True).fetchone()
            except psycopg.OperationalError:
                if attempt == 2 or not conn.driver_connection.closed:
                    raise  # not a dropped connection
                self._let_go(conn)

    def _connection(self) -> tuple[Any, psycopg.Cursor]:
        """This thread's kept connection (the pool's, checked out once) and its cursor."""
        kept = getattr(self._local, "kept", None)
        if kept is None:
            conn = self.engine.raw_connection()
            kept = self._local.kept = conn, conn.driver_connection.cursor(
                row_factory=namedtuple_row)
            with self._lock:
                self._kept.append(conn)
        return kept

    def _let_go(self, conn: Any) -> None:
        """A connection the server dropped: invalidated, and the pool emptied."""
        self._local.kept = None
        with self._lock:
            self._kept.remove(conn)
        conn.invalidate()
        self.engine.dispose()

    def dispose(self) -> None:
        """Every kept connection closed (call it with no read under way)."""
        if self.postgresql:
            with self._lock:
                kept, self._kept = self._kept, []
            for conn in kept:
                conn.close()  # back to the pool, closed by dispose() below
            self._local = threading.local()
            self.engine.dispose()
