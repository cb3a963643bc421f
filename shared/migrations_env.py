"""The body of every service's Alembic env.py: run migrations on the given connection."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import context


def run(target_metadata: sa.MetaData) -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        # Invoked from the alembic CLI: PP_<SERVICE>_DATABASE_URL names the database.
        url = config.get_main_option("sqlalchemy.url")
        assert url, "sqlalchemy.url is set by the service's alembic.ini"
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            _configure_and_run(connection, target_metadata)
        return
    _configure_and_run(connection, target_metadata)


def _configure_and_run(connection: sa.Connection, target_metadata: sa.MetaData) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
