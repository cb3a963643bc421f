"""The dsar service: specification and app factory."""
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
    name="dsar",
    metadata=models.metadata,
    tables=models.plumbing,
    migrations_dir=migrations_dir(__file__),
    declaration=personal_data.DECLARATION,
    build_handlers=handlers.build_handlers,
    build_blueprints=api.build_blueprints,
    build_loops=lambda ctx: [("dsar.sweeper", sweeper(ctx))],
)


def sweeper(ctx, every_seconds: float = 30.0):
    """Re-asks silent services and deletes expired exports."""
    dsar = api.dsar_of(ctx)

    def run(stop: threading.Event) -> None:
        while not stop.wait(every_seconds):
            try:
                with transaction(ctx.sessions) as session:
                    dsar.sweep(session)
            except Exception:  # the database may be away for a moment: next round
                log.warning("sweeping subject requests failed", exc_info=True)
    return run


def create_app(settings: Settings | None = None) -> Flask:
    return create_service_app(SPEC, settings)
