"""shared.db.insert_many on PostgreSQL (issue 27): a batch's rows of a table go in as one
statement with one JSON parameter (INSERT … SELECT … FROM json_to_recordset), not as an
executemany of a statement each, and leave what the executemany left: the rows in their
order, a column's scalar default, ON CONFLICT DO NOTHING, and a value too long for its
column refused rather than cut short."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from shared.db import UtcDateTime, insert_many, insert_unless_present, make_engine

pytestmark = pytest.mark.integration

metadata = sa.MetaData()
things = sa.Table(
    "things", metadata,
    sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("key", sa.String(8), nullable=False, unique=True),
    sa.Column("note", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("at", UtcDateTime, nullable=False))
AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


@pytest.fixture
def engine(new_database):
    built = make_engine(new_database("insert_many"))
    metadata.create_all(built)
    yield built
    built.dispose()


def sent(engine) -> list[tuple[str, bool]]:
    """What the engine sends while the list is open: (statement, executemany) each."""
    log: list[tuple[str, bool]] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        log.append((statement, executemany))
    sa.event.listen(engine, "before_cursor_execute", note)
    return log


def test_rows_go_in_as_one_statement_in_their_order_with_defaults(engine):
    rows = [{"key": f"k{n:03d}", "note": None if n % 2 else f'{{"n": {n}}} \\ é', "at": AT}
            for n in reversed(range(300))]
    log = sent(engine)
    with sa.orm.Session(engine) as session, session.begin():
        insert_many(session, things, rows)
    assert [executemany for _, executemany in log] == [False]
    assert "json_to_recordset" in log[0][0]
    with engine.connect() as conn:
        stored = conn.execute(sa.select(things.c.key, things.c.note, things.c.attempts,
                                        things.c.at).order_by(things.c.seq)).all()
    assert [tuple(r) for r in stored] == [(r["key"], r["note"], 0, AT) for r in rows]


def test_conflicting_rows_are_left_out_and_the_others_go_in(engine):
    with sa.orm.Session(engine) as session, session.begin():
        insert_many(session, things, [{"key": "a", "note": "first", "at": AT}])
        insert_unless_present(session, things, [
            {"key": "a", "note": "second", "at": AT}, {"key": "b", "note": "b", "at": AT}],
            ("key",))
    with engine.connect() as conn:
        assert dict(conn.execute(sa.select(things.c.key, things.c.note)).all()) == {
            "a": "first", "b": "b"}


def test_a_value_too_long_for_its_column_is_refused_not_cut_short(engine):
    with pytest.raises(sa.exc.DataError), sa.orm.Session(engine) as session, \
            session.begin():
        insert_many(session, things, [{"key": "k", "at": AT},
                                      {"key": "much-too-long", "at": AT}])
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(things)).scalar() == 0


def test_a_column_whose_default_is_computed_must_be_given(engine):
    table = sa.Table("computed", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("at", UtcDateTime, default=lambda: AT))
    table.create(engine)
    with pytest.raises(ValueError), sa.orm.Session(engine) as session, session.begin():
        insert_many(session, table, [{"id": 1}])


def test_a_moment_without_its_zone_is_refused(engine):
    with pytest.raises(ValueError), sa.orm.Session(engine) as session, session.begin():
        insert_many(session, things, [{"key": "k", "at": AT.replace(tzinfo=None)}])
