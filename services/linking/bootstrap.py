"""The linking service's wiring, in one place: its use cases (built once per process), the
events they handle (handlers.py's map) and the routes that reach them (api.py)."""
from __future__ import annotations

from dataclasses import dataclass

from shared.service import ServiceContext, ServiceSpec, migrations_dir, participant_of

from . import api, handlers, models, personal_data
from .service import Linking


@dataclass(frozen=True)
class UseCases:
    linking: Linking


def build(ctx: ServiceContext) -> UseCases:
    return UseCases(Linking(ctx.outbox, participant_of(ctx, personal_data.LinkingParticipant)))


SPEC = ServiceSpec(
    name="linking",
    metadata=models.metadata,
    tables=models.plumbing,
    migrations_dir=migrations_dir(__file__),
    declaration=personal_data.DECLARATION,
    participant_class=personal_data.LinkingParticipant,
    build=build,
    build_routes=handlers.build_routes,
    blueprints=api.BLUEPRINTS,
)
