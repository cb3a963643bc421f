"""The reports service: specification and app factory."""
from __future__ import annotations

import logging
import threading

from flask import Flask

from shared.config import Settings
from shared.db import transaction
from shared.service import ServiceSpec, create_service_app, migrations_dir

from . import api, handlers, models, personal_data

log = logging.getLogger(__name__)

SPEC = ServiceSpec(
    name="reports",
    metadata=models.metadata,
    tables=models.plumbing,
    migrations_dir=migrations_dir(__file__),
    declaration=personal_data.DECLARATION,
    build_handlers=handlers.build_handlers,
    build_blueprints=api.build_blueprints,
    participant_class=personal_data.ReportsParticipant,
    build_loops=lambda ctx: [("reports.announcer", announcer(ctx))],
)


def announcer(ctx, every_seconds: float = 15.0):
    """Sends ReportPublished for embargoed reports as their `visible_from` passes."""
    reports = api.reports_of(ctx)

    def run(stop: threading.Event) -> None:
        while not stop.wait(every_seconds):
            try:
                with transaction(ctx.sessions) as session:
                    reports.announce_due(session)
            except Exception:  # the database may be away for a moment: try next round
                log.warning("announcing due reports failed", exc_info=True)
    return run


def create_app(settings: Settings | None = None) -> Flask:
    return create_service_app(SPEC, settings)
