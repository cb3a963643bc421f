"""An erasure on SQLite leaves no copy of the deleted bytes on disk: secure_delete zeroes
them in the database pages, and the write-ahead log, which keeps the pages as they were,
is checkpointed and truncated once the erasing transaction commits (shared/db.py)."""
import sqlalchemy as sa

from shared.db import make_engine, make_session_factory, purge_after_commit

ERASED, KEPT = "Zephyrine Quarleston", "Octavia Brennanova"


def _disk(tmp_path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(tmp_path.glob("p.db*")))


def _world(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
        conn.exec_driver_sql("CREATE INDEX ix_people_name ON people (name)")
        conn.execute(sa.text("INSERT INTO people (name) VALUES (:a), (:b)"),
                     {"a": ERASED, "b": KEPT})
    return engine, make_session_factory(engine)


def test_every_connection_deletes_securely(tmp_path):
    engine, _ = _world(tmp_path)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


def test_an_erasing_transaction_leaves_the_bytes_nowhere_on_disk(tmp_path):
    engine, sessions = _world(tmp_path)
    assert ERASED.encode() in _disk(tmp_path)
    with sessions() as session, session.begin():
        session.execute(sa.text("SELECT name FROM people")).all()  # a read beside it
        session.execute(sa.text("DELETE FROM people WHERE name = :n"), {"n": ERASED})
        purge_after_commit(session)
    disk = _disk(tmp_path)
    assert ERASED.encode() not in disk  # database, write-ahead log and index alike
    assert KEPT.encode() in disk  # the file is read as it is: the others are there
    assert (tmp_path / "p.db-wal").stat().st_size == 0
    engine.dispose()


def test_a_transaction_that_does_not_erase_leaves_the_log_alone(tmp_path):
    engine, sessions = _world(tmp_path)
    with sessions() as session, session.begin():
        session.execute(sa.text("DELETE FROM people WHERE name = :n"), {"n": ERASED})
    assert (tmp_path / "p.db-wal").stat().st_size > 0  # purged only when asked
    engine.dispose()
