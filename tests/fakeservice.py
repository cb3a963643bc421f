"""A small service built from the real plumbing, for testing the plumbing itself.

It uses real service names ("linking" produces, "reports" consumes) so the contracts route
to it, but its own tables: `pupils` holds personal data (declared), `effects` records what
handlers did.
"""
from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa

from shared.config import Settings
from shared.contracts import typed
from shared.messaging.consumer import Route, route
from shared.rights import NOT_PERSONAL, DataDeclaration, Personal, TableDeclaration
from shared.service import ServiceRuntime, ServiceSpec
from shared.tables import define_plumbing_tables


def make_spec(name: str, handlers=None, *, declare: bool = True) -> ServiceSpec:
    """`handlers`: event type -> a handler (gathered) or a Route."""
    metadata = sa.MetaData()
    tables = define_plumbing_tables(metadata)
    sa.Table("pupils", metadata,
             sa.Column("id", sa.String(36), primary_key=True),
             sa.Column("school_id", sa.String(36), nullable=False),
             sa.Column("given_name", sa.String(100), nullable=False),
             sa.Column("date_of_birth", sa.Date, nullable=False))
    sa.Table("effects", metadata,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("event_id", sa.String(36), nullable=False),
             sa.Column("student_id", sa.String(36), nullable=False))
    declaration = DataDeclaration(name, (
        TableDeclaration("pupils", {"id": NOT_PERSONAL, "school_id": NOT_PERSONAL,
                                    "given_name": Personal("student"),
                                    "date_of_birth": Personal("student")},
                         subjects={"student": "id"}),
        TableDeclaration("effects", {"event_id": NOT_PERSONAL, "student_id": NOT_PERSONAL},
                         subjects={"student": "student_id"}, school_column=None),
    )) if declare else None
    return ServiceSpec(name=name, metadata=metadata, tables=tables, migrations_dir=None,
                       declaration=declaration,
                       build_routes=lambda ctx: [
                           h if isinstance(h, Route) else route(typed.BY_TYPE[t], h,
                                                                gathered=True)
                           for t, h in (handlers or {}).items()])


EFFECTS = sa.table("effects", sa.column("event_id"), sa.column("student_id"))


def record_effect(session, events):
    """A handler whose effect can be counted: one `effects` row per application."""
    session.execute(EFFECTS.insert(), [{"event_id": event.id,
                                        "student_id": event.data.student_id}
                                       for event in events])


def runtime(spec: ServiceSpec, settings: Settings, database_url: str) -> ServiceRuntime:
    settings = replace(settings, database_urls={**settings.database_urls,
                                                spec.name: database_url})
    rt = ServiceRuntime(spec, settings)
    rt.start()
    return rt


def count(rt: ServiceRuntime, table: str, where: str = "1=1", **params) -> int:
    with rt.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {where}"),
                            params).scalar_one()
