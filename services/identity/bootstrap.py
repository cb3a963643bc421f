"""The identity service's wiring, in one place: its use cases (built once per process),
what it does at start (its signing keys, the first operator), the events they handle
(handlers.py's map), the routes that reach them (api.py) and the reset mailer loop of the
worker. Identity verifies tokens with its own keys."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from shared.auth import TokenVerifier
from shared.db import transaction
from shared.erasure_ledger import ledger_from_url
from shared.service import Loop, ServiceContext, ServiceSpec, migrations_dir, participant_of
from shared.worker import periodic

from . import api, domain, handlers, models, passkeys_api, personal_data, recovery_api
from .keys import KeyRing
from .passkey_rules import RelyingParty
from .secret import IdentitySecret
from .service import Identity


@dataclass(frozen=True)
class UseCases:
    identity: Identity


def build(ctx: ServiceContext) -> UseCases:
    settings = ctx.settings
    secret = IdentitySecret.load(settings)
    return UseCases(Identity(
        outbox=ctx.outbox, keys=KeyRing(ctx.engine, settings, secret),
        hasher=domain.password_hasher(),
        invitation_lifetime=dt.timedelta(days=settings.invitation_days),
        refresh_lifetime=dt.timedelta(days=settings.refresh_token_days),
        sign_in_lifetime=dt.timedelta(days=settings.sign_in_max_days),
        address_key=secret.address_key,
        ledger=ledger_from_url(settings.erasure_ledger_url),
        relying_party=RelyingParty(settings.passkey_rp_id, settings.passkey_origins)))


def on_start(ctx: ServiceContext) -> None:
    uses: UseCases = ctx.use_cases
    uses.identity.keys.ensure()
    settings = ctx.settings
    participant_of(ctx, personal_data.IdentityParticipant).token_lifetime = \
        settings.access_token_seconds
    if settings.bootstrap_operator_email and settings.bootstrap_operator_password:
        with transaction(ctx.sessions) as session:
            uses.identity.ensure_operator(session, settings.bootstrap_operator_email,
                                          settings.bootstrap_operator_password)


def verifier(ctx: ServiceContext) -> TokenVerifier:
    uses: UseCases = ctx.use_cases
    return uses.identity.keys.verifier()


def reset_mailer(ctx: ServiceContext, every_seconds: float = 0.5) -> Loop:
    """Handles the password resets asked for (the request only writes them down)."""
    uses: UseCases = ctx.use_cases

    def round_() -> None:
        while True:
            with transaction(ctx.sessions) as session:
                if uses.identity.handle_reset_requests(session) == 0:
                    return
    return periodic("identity.resets", every_seconds, round_)


SPEC = ServiceSpec(
    name="identity",
    metadata=models.metadata,
    tables=models.plumbing,
    migrations_dir=migrations_dir(__file__),
    declaration=personal_data.DECLARATION,
    participant_class=personal_data.IdentityParticipant,
    build=build,
    build_routes=handlers.build_routes,
    blueprints=(*api.BLUEPRINTS, passkeys_api.passkeys, recovery_api.recovery),
    on_start=on_start,
    build_verifier=verifier,
    build_loops=lambda ctx: [reset_mailer(ctx)],
    # Identity's receipt keys are sealed by its own secret (secret.py).
    receipt_sealer=lambda settings: IdentitySecret.load(settings).receipt_sealer,
)
