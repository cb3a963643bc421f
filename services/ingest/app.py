"""The ingest service: specification and app factory."""
from __future__ import annotations

from flask import Flask

from shared.config import Settings
from shared.service import ServiceRuntime, ServiceSpec, migrations_dir

from . import api, handlers, models, personal_data

SPEC = ServiceSpec(
    name="ingest",
    metadata=models.metadata,
    tables=models.plumbing,
    migrations_dir=migrations_dir(__file__),
    declaration=personal_data.DECLARATION,
    build_handlers=handlers.build_handlers,
    build_blueprints=api.build_blueprints,
)


def create_app(settings: Settings | None = None) -> Flask:
    runtime = ServiceRuntime(SPEC, settings or Settings.from_env())
    runtime.start()
    return runtime.create_app()
