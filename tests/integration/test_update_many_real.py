"""shared.db_update.update_many (issue 27): a batch's rows written over the stored ones of their
key, on PostgreSQL as one statement with one JSON parameter (UPDATE … FROM
json_to_recordset), not an executemany of a statement a row; on SQLite the executemany.
Both leave the same: only keys stored and held by the condition change, and with a version
column only rows whose stored version is not newer."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from shared.db import UtcDateTime, insert_many, make_engine
from shared.db_update import update_many

pytestmark = pytest.mark.integration

metadata = sa.MetaData()
names = sa.Table(
    "names", metadata,
    sa.Column("school", sa.String(8), primary_key=True),
    sa.Column("key", sa.String(8), primary_key=True),
    sa.Column("name", sa.String(12), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("at", UtcDateTime, nullable=True))
AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request, new_database, tmp_path):
    url = (new_database("update_many") if request.param == "postgresql"
           else f"sqlite:///{tmp_path / 'update_many.db'}")
    built = make_engine(url)
    metadata.create_all(built)
    yield built
    built.dispose()


def stored(engine) -> dict[tuple[str, str], tuple[str, int, dt.datetime | None]]:
    with engine.connect() as conn:
        return {(r.school, r.key): (r.name, r.version, r.at)
                for r in conn.execute(sa.select(names))}


def test_rows_of_stored_keys_change_where_the_condition_and_version_allow(engine):
    with sa.orm.Session(engine) as session, session.begin():
        insert_many(session, names, [
            {"school": s, "key": f"k{n}", "name": "old", "version": 2, "at": None}
            for s in ("a", "b") for n in range(4)])
    statements: list[bool] = []  # each UPDATE sent: an executemany?

    def note(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE"):
            statements.append(executemany)
    sa.event.listen(engine, "before_cursor_execute", note)
    with sa.orm.Session(engine) as session, session.begin():
        update_many(session, names, ("key",), [
            {"key": "k0", "name": "newer", "version": 3, "at": AT},  # applies
            {"key": "k1", "name": "same", "version": 2, "at": AT},  # applies (not older)
            {"key": "k2", "name": "older", "version": 1, "at": AT},  # stored is newer
            {"key": "k9", "name": "unknown", "version": 5, "at": AT}],  # not stored
            names.c.school == "a", not_older="version")
    assert statements == [engine.dialect.name != "postgresql"]
    after = stored(engine)
    assert {k: v for k, v in after.items() if k[0] == "a"} == {
        ("a", "k0"): ("newer", 3, AT), ("a", "k1"): ("same", 2, AT),
        ("a", "k2"): ("old", 2, None), ("a", "k3"): ("old", 2, None)}
    assert all(v == ("old", 2, None) for k, v in after.items() if k[0] == "b")


def test_without_a_version_every_stored_key_changes_and_no_rows_send_nothing(engine):
    with sa.orm.Session(engine) as session, session.begin():
        insert_many(session, names, [{"school": "a", "key": "k", "name": "old",
                                      "version": 7, "at": None}])
        update_many(session, names, ("school", "key"), [
            {"school": "a", "key": "k", "name": "new", "version": 1}])
        update_many(session, names, ("key",), [])
    assert stored(engine) == {("a", "k"): ("new", 1, None)}


def test_a_value_too_long_for_its_column_is_refused_not_cut_short(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite does not hold a string to its length")
    with sa.orm.Session(engine) as session, session.begin():
        insert_many(session, names, [{"school": "a", "key": "k", "name": "old",
                                      "version": 1, "at": None}])
    with pytest.raises(sa.exc.DataError), sa.orm.Session(engine) as session, \
            session.begin():
        update_many(session, names, ("key",), [{"key": "k", "name": "much-too-long-a-name"}])
    assert stored(engine) == {("a", "k"): ("old", 1, None)}
