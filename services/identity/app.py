"""The identity service: specification, wiring and app factory."""
from __future__ import annotations

import logging

from flask import Flask

from shared.config import Settings
from shared.db import transaction
from shared.service import ServiceContext, ServiceSpec, create_service_app, migrations_dir
from shared.worker import periodic

from . import api, handlers, models, personal_data
from .service import identity_of

log = logging.getLogger(__name__)


def on_start(ctx: ServiceContext) -> None:
    identity = identity_of(ctx)
    identity.keys.ensure()
    settings = ctx.settings
    ctx.participant.token_lifetime = settings.access_token_seconds
    if settings.bootstrap_operator_email and settings.bootstrap_operator_password:
        with transaction(ctx.sessions) as session:
            identity.ensure_operator(session, settings.bootstrap_operator_email,
                                     settings.bootstrap_operator_password)


def reset_mailer(ctx: ServiceContext, every_seconds: float = 0.5):
    """Handles the password resets asked for (the request only writes them down)."""
    def round_() -> None:
        identity = identity_of(ctx)
        while True:
            with transaction(ctx.sessions) as session:
                if identity.handle_reset_requests(session) == 0:
                    return
    return periodic("identity.resets", every_seconds, round_)


SPEC = ServiceSpec(
    name="identity",
    metadata=models.metadata,
    tables=models.plumbing,
    migrations_dir=migrations_dir(__file__),
    declaration=personal_data.DECLARATION,
    participant_class=personal_data.IdentityParticipant,
    build_handlers=handlers.build_handlers,
    build_blueprints=api.build_blueprints,
    on_start=on_start,
    build_verifier=lambda ctx: identity_of(ctx).keys.verifier(),
    build_loops=lambda ctx: [reset_mailer(ctx)],
)


def create_app(settings: Settings | None = None) -> Flask:
    return create_service_app(SPEC, settings)
