"""The reports service: specification and app factory."""
from __future__ import annotations

from flask import Flask

from shared.config import Settings
from shared.db import transaction
from shared.service import ServiceSpec, create_service_app, migrations_dir
from shared.worker import periodic

from . import api, handlers, models, personal_data

SPEC = ServiceSpec(
    name="reports",
    metadata=models.metadata,
    tables=models.plumbing,
    migrations_dir=migrations_dir(__file__),
    declaration=personal_data.DECLARATION,
    build_handlers=handlers.build_handlers,
    build_blueprints=api.build_blueprints,
    participant_class=personal_data.ReportsParticipant,
    build_loops=lambda ctx: [announcer(ctx)],
)


def announcer(ctx, every_seconds: float = 15.0):
    """Sends ReportPublished for embargoed reports as their `visible_from` passes."""
    def round_() -> None:
        with transaction(ctx.sessions) as session:
            api.reports_of(ctx).announce_due(session)
    return periodic("reports.announcer", every_seconds, round_)


def create_app(settings: Settings | None = None) -> Flask:
    return create_service_app(SPEC, settings)
