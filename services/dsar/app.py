"""The dsar service: specification and app factory."""
from __future__ import annotations

from flask import Flask

from shared.config import Settings
from shared.db import transaction
from shared.service import ServiceSpec, create_service_app, migrations_dir
from shared.worker import periodic

from . import api, handlers, models, personal_data

SPEC = ServiceSpec(
    name="dsar",
    metadata=models.metadata,
    tables=models.plumbing,
    migrations_dir=migrations_dir(__file__),
    declaration=personal_data.DECLARATION,
    build_handlers=handlers.build_handlers,
    build_blueprints=api.build_blueprints,
    build_loops=lambda ctx: [sweeper(ctx)],
)


def sweeper(ctx, every_seconds: float = 30.0):
    """Re-asks silent services and deletes expired exports."""
    def round_() -> None:
        with transaction(ctx.sessions) as session:
            api.dsar_of(ctx).sweep(session)
    return periodic("dsar.sweeper", every_seconds, round_)


def create_app(settings: Settings | None = None) -> Flask:
    return create_service_app(SPEC, settings)
