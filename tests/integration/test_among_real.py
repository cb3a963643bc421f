"""shared.db.among: a set of ids of any size in a condition, one array parameter on
PostgreSQL (issue 27), the IN list on SQLite; the same rows on both, negated too, and a
cached statement takes each execution's own set."""
import uuid

import pytest
import sqlalchemy as sa

from shared.db import among, make_engine

pytestmark = pytest.mark.integration


def test_among_selects_updates_and_deletes_the_rows_of_its_set(new_database, tmp_path):
    for url in (new_database("among"), f"sqlite:///{tmp_path / 'among.db'}"):
        engine = make_engine(url)
        try:
            rows_of_a_set(engine)
        finally:
            engine.dispose()


def rows_of_a_set(engine: sa.Engine) -> None:
    table = sa.Table("things", sa.MetaData(), sa.Column("id", sa.String(36), primary_key=True),
                     sa.Column("n", sa.Integer, nullable=False))
    table.metadata.create_all(engine)
    ids = sorted(str(uuid.uuid4()) for _ in range(600))
    params: list[int] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if not executemany:
            params.append(len(parameters or ()))
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, "n": n} for n, i in enumerate(ids)])
        sa.event.listen(engine, "before_cursor_execute", count)
        for wanted in (ids[:3], ids[100:600], [], ["not there"], ids[:3]):
            chosen = sa.select(table.c.id).where(among(table.c.id, wanted))
            assert sorted(conn.execute(chosen).scalars()) == [i for i in wanted if i in ids]
            others = sa.select(table.c.id).where(~among(table.c.id, wanted))
            assert sorted(conn.execute(others).scalars()) == [i for i in ids if i not in wanted]
        conn.execute(table.update().where(among(table.c.id, ids[:500])).values(n=-1))
        conn.execute(table.delete().where(among(table.c.id, ids[400:]), table.c.n < 0))
        sa.event.remove(engine, "before_cursor_execute", count)
        assert conn.execute(sa.select(sa.func.count()).where(table.c.n < 0)).scalar() == 400
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 500
    if engine.dialect.name == "postgresql":  # the set is one parameter, whatever its size
        assert max(params) <= 2, params  # the set, and the value set or compared
