"""What every benchmark needs: a PostgreSQL database of its own, dropped afterwards."""
from __future__ import annotations

import os
import uuid
from typing import Callable

import sqlalchemy as sa

DATABASE = os.environ.get("PP_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def temporary_database(label: str) -> tuple[str, Callable[[], None]]:
    """A new database on PP_TEST_DATABASE_URL's server: its SQLAlchemy URL, and the
    function that drops it (call it in a `finally`)."""
    admin_url = "postgresql+psycopg://" + DATABASE.split("://", 1)[1]
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"pp_bench_{label}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop
