"""Database plumbing: engines, transactions and each service's Alembic migrations.

Each service owns one database; nothing here lets one service see another's tables.
"""
from __future__ import annotations

import datetime as dt
import logging
import zlib
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.sql.visitors import InternalTraversal

T = TypeVar("T")
R = TypeVar("R")  # an item of a set-based write
K = TypeVar("K")  # its record's key
log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UtcDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite forgets the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None,
                           dialect: sa.Dialect) -> dt.datetime | None:
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime stored")
            value = value.astimezone(dt.timezone.utc)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any | None,
                             dialect: sa.Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value


class _Among(sa.ColumnElement[bool]):
    """`column IN values` as `among` renders it: on PostgreSQL one array parameter, on
    SQLite (which has no arrays) the IN list. Both forms are held, so a statement's cache
    key and bound values are those of both, and each dialect renders its own."""

    inherit_cache = True
    type = sa.Boolean()
    _is_implicitly_boolean = True  # a condition itself (SQLite: no "= 1" after it)
    _traverse_internals = [("as_array", InternalTraversal.dp_clauseelement),
                           ("as_list", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: sa.ColumnElement[Any], values: Iterable[Any]):
        values = list(values)
        self.as_array = column == sa.any_(sa.bindparam(None, values,
                                                       type_=sa.ARRAY(column.type)))
        self.as_list = column.in_(values)


@compiles(_Among, "postgresql")
def _among_array(element: _Among, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.as_array, **kw))


@compiles(_Among)
def _among_list(element: _Among, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.as_list, **kw))


def among(column: sa.ColumnElement[Any], values: Iterable[Any]) -> sa.ColumnElement[bool]:
    """`column IN values` for a set of any size (a batch's ids). On PostgreSQL it is
    `column = ANY(array)`, one parameter: an IN list is a parameter per value, each cast
    (`$n::VARCHAR`), which PostgreSQL takes about ten times longer to plan and run (25 ms
    for 500 ids against 2 ms), and which psycopg parses out of a query text of that size
    on every execution."""
    return _Among(column, values)


# How long libpq tries each host of a URL before the next one (unless the URL says).
CONNECT_TIMEOUT_SECONDS = 5
# What a caller is told to wait before trying again while the database is away.
RETRY_AFTER_SECONDS = 5
# SQLSTATEs meaning "not now", not "wrong": connection exceptions (08…), the server
# shutting down or starting (57P01-03), a read-only server (25006: a standby, or a primary
# demoted under a pooled connection).
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "25006")


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot take this work now (no primary, the
    server restarting, a connection lost) rather than that the work is wrong: the caller
    should try again later, and nothing was committed that it was told of."""
    if isinstance(exc, sa.exc.TimeoutError):  # the pool: no connection within its timeout
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        return _driver_says_unavailable(exc.orig)
    return _driver_says_unavailable(exc)


def _driver_says_unavailable(exc: BaseException | None) -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - installed with the project
        return False
    if not isinstance(exc, psycopg.Error):
        return False
    state = getattr(exc, "sqlstate", None)
    if state is None:  # raised by the driver itself: connecting failed, connection closed
        return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
    return bool(state.startswith(_UNAVAILABLE_STATES))


def postgres_url(url: str) -> str:
    """A PostgreSQL URL as SQLAlchemy's psycopg dialect takes it. Operators' plain
    `postgresql://` URLs (CloudNativePG's uri) get the driver; libpq's several-host form
    (`postgresql://user@h1:5432,h2:5432/db?target_session_attrs=read-write`, what a
    primary with standbys is given as) becomes one `host=` parameter per host."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            url = "postgresql+psycopg://" + url[len(plain):]
    prefix = "postgresql+psycopg://"
    if not url.startswith(prefix):
        return url
    rest = url[len(prefix):]
    netloc, slash, tail = rest.partition("/")
    userinfo, at, hostlist = netloc.rpartition("@")
    if "," not in hostlist:
        return url
    path, question, query = tail.partition("?")
    hosts = "&".join(f"host={host}" for host in hostlist.split(",") if host)
    query = f"{hosts}&{query}" if query else hosts
    return f"{prefix}{userinfo}{at}/{path}?{query}"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine tuned for its backend: SQLite in WAL mode for the embedded threads."""
    url = postgres_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("hide_parameters", True)  # no personal data in error messages
        engine = sa.create_engine(url, connect_args={"check_same_thread": False,
                                                     "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: object) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # Deleted rows are overwritten with zeros, not left readable in free space
            # (an erasure must leave nothing); see also purge_after_commit.
            cur.execute("PRAGMA secure_delete=ON")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        # pysqlite's own transaction handling defers BEGIN; make it explicit and
        # immediate so two threads writing never deadlock on a lock upgrade.
        @event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_conn: Any,
                               _record: object) -> None:  # pragma: no cover - trivial
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: sa.Connection) -> None:  # pragma: no cover - trivial
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("hide_parameters", True)  # no personal data in error messages
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    if url.startswith("postgresql") and "connect_timeout" not in sa.make_url(url).query:
        # A host that does not answer (a lost machine) is given up for the next one.
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS,
                                  **kwargs.get("connect_args", {})}
    return sa.create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(engine, expire_on_commit=False)
    event.listen(factory, "after_commit", _note_commit)
    event.listen(factory, "after_transaction_end", _purge_if_asked)
    return factory


_PURGE, _COMMITTED = "pp_purge_after_commit", "pp_committed"


def purge_after_commit(session: Session) -> None:
    """This transaction erases personal data: once it commits, leave no copy of the old
    bytes on disk. SQLite (secure_delete on) zeroes deleted rows in the database pages, but
    the pages as they were stay in the write-ahead log until it is checkpointed and
    truncated; PostgreSQL needs nothing here (its dead rows are vacuumed, and a cell scan
    cannot see them)."""
    session.info[_PURGE] = True


def _note_commit(session: Session) -> None:
    session.info[_COMMITTED] = True


def _purge_if_asked(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return  # a savepoint: the outer transaction decides
    committed = session.info.pop(_COMMITTED, False)
    if session.info.pop(_PURGE, False) and committed:
        # Only now, with the connection given back: a statement it still held would
        # keep the old log alive and the checkpoint waiting for itself.
        checkpoint_wal(session.get_bind())


def checkpoint_wal(bind: Engine | sa.Connection) -> bool:
    """SQLite: copy the write-ahead log into the database and truncate it to nothing, so
    the old versions of changed pages are gone from the disk. False when a reader or
    writer kept it from completing within the busy timeout (it is logged; the next
    erasure's checkpoint takes those pages too). A no-op, True, elsewhere."""
    engine = bind.engine if isinstance(bind, sa.engine.Connection) else bind
    if engine.dialect.name != "sqlite":
        return True
    raw = engine.raw_connection()  # outside any transaction: a checkpoint needs that
    try:
        driver: Any = raw.driver_connection  # sqlite3's own connection
        busy, _, _ = driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        raw.close()
    if busy:
        log.warning("write-ahead log not truncated (busy) database=%s", engine.url.database)
    return not busy


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with sessions() as session, session.begin():
        yield session


def run_in_transaction(sessions: sessionmaker[Session], work: Callable[[Session], T], *,
                       commit_on: tuple[type[BaseException], ...] = ()) -> T:
    """`work` in one transaction. An exception in `commit_on` still commits what was
    written before it is raised (a failed sign-in must keep its failure count)."""
    with sessions() as session:
        session.begin()
        try:
            result = work(session)
        except commit_on:
            session.commit()
            raise
        except BaseException:
            session.rollback()
            raise
        session.commit()
        return result


def upsert_versioned_many(session: Session, table: sa.Table, key_column: str,
                          rows: list[dict[str, Any]],
                          version_column: str = "record_version") -> None:
    """A projection's write, for one row or many of one table: a row replaces the stored
    one unless that one's version is newer (an older event arriving late changes nothing);
    the state many leave is the state applying them one by one, in order, would leave.
    Every row holds the same columns, the key and the version among them. On PostgreSQL
    one statement (the rows as one JSON parameter, `INSERT … ON CONFLICT DO UPDATE …
    WHERE` the stored version is not newer); elsewhere three (read the versions, insert,
    update)."""
    latest = latest_versions(rows, itemgetter(key_column), itemgetter(version_column))
    if not latest:
        return
    if session.get_bind().dialect.name == "postgresql":
        _upsert_json_rows(session, table, key_column, version_column,
                          [latest[k] for k in sorted(latest)])  # one lock order for all
    else:
        _upsert_read_then_write(session, table, key_column, version_column, latest)


def latest_versions(items: Iterable[R], key: Callable[[R], K],
                    version: Callable[[R], int]) -> dict[K, R]:
    """Each record's item that applying them in order leaves: the highest version, the
    later of equals (an older one arriving late changes nothing; an equal one applies
    again). The one statement of that rule for every set-based projection."""
    latest: dict[K, R] = {}
    for item in items:
        known = latest.get(key(item))
        if known is None or version(item) >= version(known):
            latest[key(item)] = item
    return latest


def _upsert_read_then_write(session: Session, table: sa.Table, key_column: str,
                            version_column: str, latest: dict[Any, dict[str, Any]]) -> None:
    """Read the stored versions (locked), insert the new keys, update the rows not older."""
    key = table.c[key_column]
    current = dict(session.execute(
        sa.select(key, table.c[version_column]).where(among(key, list(latest)))
        .with_for_update()).all())
    inserts = [row for k, row in latest.items() if k not in current]
    updates = [row for k, row in latest.items()
               if k in current and row[version_column] >= current[k]]
    if inserts:
        session.execute(table.insert(), inserts)
    if updates:
        _update_by_key(session, table, key_column, updates)


def _update_by_key(session: Session, table: sa.Table, key_column: str,
                   updates: list[dict[str, Any]]) -> None:
    """One executemany UPDATE of the rows' other columns, by key."""
    # Bind names of their own: SQLAlchemy reserves the column names in SET.
    key = table.c[key_column]
    columns = [c for c in updates[0] if c != key_column]
    statement = table.update().where(key == sa.bindparam("k_" + key_column)).values(
        {c: sa.bindparam("v_" + c) for c in columns})
    session.execute(statement, [{"k_" + key_column: row[key_column],
                                 **{"v_" + c: row[c] for c in columns}}
                                for row in updates])


def _upsert_json_rows(session: Session, table: sa.Table, key_column: str,
                      version_column: str, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: the rows as one JSON parameter (_json_rows), inserted or, where the key
    exists and the stored version is not newer, written over: thousands of rows in one
    statement instead of one each."""
    from sqlalchemy.dialects import postgresql

    columns, select = _json_rows(table, rows)
    insert = postgresql.insert(table).from_select(columns, select)
    session.execute(insert.on_conflict_do_update(
        index_elements=[table.c[key_column]],
        set_={c: insert.excluded[c] for c in columns if c != key_column},
        where=table.c[version_column] <= insert.excluded[version_column]))


def _json_rows(table: sa.Table, rows: list[dict[str, Any]]
               ) -> tuple[list[str], sa.Select[Any]]:
    """PostgreSQL: the rows' columns, and a SELECT of the rows in their order from one
    JSON parameter read back by json_to_recordset as the columns' types (a string too
    long for its column is refused, not cut short). One parameter encoded in C: arrays of
    text would be escaped value by value in Python (outbox payloads are quotes all over)."""
    from sqlalchemy.dialects import postgresql

    columns = list(rows[0])
    dated = [c for c in columns if isinstance(getattr(table.c[c].type, "impl", table.c[c].type),
                                              (sa.DateTime, sa.Date))]
    given_rows = []
    for n, row in enumerate(rows):
        given = {**row, "_n": n}
        for c in dated:  # the value's type is looked at only where the column's may need it
            given[c] = _json_ready(given[c])
        given_rows.append(given)
    recordset = (sa.func.json_to_recordset(sa.literal(given_rows, postgresql.JSON))
                 .table_valued(*(sa.column(c, table.c[c].type) for c in columns),
                               sa.column("_n", sa.Integer()))
                 .render_derived("given", with_types=True))
    return columns, sa.select(*(recordset.c[c] for c in columns)).order_by(recordset.c._n)


def _json_ready(value: Any) -> Any:
    """A value as JSON gives it back to its column's type: moments and days as ISO text
    (a moment without a zone is refused, as UtcDateTime refuses it)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime stored")
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def insert_unless_present(session: Session | sa.Connection, table: sa.Table,
                          values: dict[str, Any] | list[dict[str, Any]],
                          conflict_columns: tuple[str, ...]) -> None:
    """`INSERT … ON CONFLICT (conflict_columns) DO NOTHING` (PostgreSQL and SQLite) of a
    row or of many: the same statements whether or not a row is there, so neither the
    work nor its timing tells."""
    insert_many(session, table, values if isinstance(values, list) else [values],
                conflict_columns)


def insert_many(session: Session | sa.Connection, table: sa.Table, rows: list[dict[str, Any]],
                conflict_columns: tuple[str, ...] = ()) -> None:
    """Rows of one table (each with the same columns) in one statement, with ON CONFLICT
    (conflict_columns) DO NOTHING if given. On PostgreSQL `INSERT … SELECT` of the rows
    as one JSON parameter (_json_rows): a batch's rows are one statement to send, plan
    and run, where an executemany is one each (issue 27: a roster's accounts,
    memberships, invitations, outbox rows…). Elsewhere an executemany."""
    if not rows:
        return
    bind = session if isinstance(session, sa.Connection) else session.get_bind()
    dialect = bind.dialect.name
    insert = _insert_of(dialect)(table)
    if dialect == "postgresql":
        defaults = _defaults_of(table, rows[0])
        insert = insert.from_select(*_json_rows(table, [{**defaults, **row} for row in rows]))
    if conflict_columns:
        insert = insert.on_conflict_do_nothing(
            index_elements=[table.c[c] for c in conflict_columns])
    session.execute(insert, None if dialect == "postgresql" else rows)


def _defaults_of(table: sa.Table, row: dict[str, Any]) -> dict[str, Any]:
    """The scalar defaults of the columns a row leaves out (an executemany applies them;
    INSERT … SELECT would not); a computed default must be given."""
    defaults = {}
    for column in table.columns:
        default = column.default
        if column.name in row or default is None:
            continue
        if not (isinstance(default, sa.ColumnDefault) and default.is_scalar):
            raise ValueError(f"{table.name}.{column.name}: give its value")
        defaults[column.name] = default.arg
    return defaults


def advisory_lock(session: Session, key: str) -> None:
    """Serialise transactions on `key` until this one ends (PostgreSQL advisory lock).
    SQLite needs none: its write transactions are serial already (BEGIN IMMEDIATE)."""
    advisory_locks(session, [key])


def advisory_locks(session: Session, keys: Iterable[str], shared: bool = False) -> None:
    """advisory_lock on each of `keys`, in one statement, taken in one order (the keys'
    numbers, sorted) so two transactions locking overlapping sets never deadlock.
    `shared`: transactions holding a key shared go together; only one holding it
    exclusively (the default) keeps out every other."""
    if session.get_bind().dialect.name != "postgresql":
        return
    numbers = sorted({zlib.crc32(key.encode()) & 0x7FFFFFFF for key in keys})
    lock = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    if len(numbers) == 1:
        session.execute(sa.text(f"SELECT {lock}(:k)"), {"k": numbers[0]})
    elif numbers:
        session.execute(sa.text(f"SELECT count({lock}(k)) FROM "
                                "(SELECT unnest(CAST(:ks AS bigint[])) AS k ORDER BY k) AS keys"),
                        {"ks": numbers})


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


def upgrade(engine: Engine, migrations_dir: Path, metadata: sa.MetaData) -> None:
    """Run a service's Alembic migrations to head.

    On PostgreSQL an advisory lock serialises web and worker processes starting together.
    """
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            key = zlib.crc32(str(migrations_dir).encode()) & 0x7FFFFFFF
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        cfg.attributes["connection"] = conn
        cfg.attributes["target_metadata"] = metadata
        command.upgrade(cfg, "head")


def _insert_of(dialect: str) -> Callable[[sa.Table], Any]:
    """The dialect's INSERT, which knows ON CONFLICT (PostgreSQL and SQLite alike)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert
        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    return sqlite_insert


def affected(result: Any) -> int:
    """The rows an UPDATE or DELETE touched (Session.execute is typed as giving a Result,
    whose cursor form carries rowcount)."""
    count: int = result.rowcount
    return count
