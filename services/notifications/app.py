"""The notifications service: specification and app factory."""
from __future__ import annotations

from flask import Flask

from shared.config import Settings
from shared.service import ServiceSpec, create_service_app, migrations_dir

from . import api, handlers, models, personal_data

SPEC = ServiceSpec(
    name="notifications",
    metadata=models.metadata,
    tables=models.plumbing,
    migrations_dir=migrations_dir(__file__),
    declaration=personal_data.DECLARATION,
    build_handlers=handlers.build_handlers,
    build_blueprints=api.build_blueprints,
    participant_class=personal_data.NotificationsParticipant,
    build_loops=lambda ctx: [("notifications.sender",
                              api.notifications_of(ctx).sender(ctx.sessions))],
)


def create_app(settings: Settings | None = None) -> Flask:
    return create_service_app(SPEC, settings)
