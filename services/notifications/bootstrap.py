"""The notifications service's wiring, in one place: its use cases (built once per
process), the events they handle (handlers.py's map), the routes that reach them (api.py)
and the sender loop of the worker."""
from __future__ import annotations

from dataclasses import dataclass

from shared.service import Loop, ServiceContext, ServiceSpec, migrations_dir, participant_of

from . import api, handlers, models, personal_data
from .mailer import Mailer
from .service import Notifications


@dataclass(frozen=True)
class UseCases:
    notifications: Notifications


def build(ctx: ServiceContext) -> UseCases:
    mailer = Mailer(ctx.settings)
    participant = participant_of(ctx, personal_data.NotificationsParticipant)
    participant.mailer = mailer  # an erasure takes the mail folder's copies too
    return UseCases(Notifications(ctx.settings, participant, mailer))


def sender(ctx: ServiceContext) -> Loop:
    uses: UseCases = ctx.use_cases
    return ("notifications.sender", uses.notifications.sender(ctx.sessions))


SPEC = ServiceSpec(
    name="notifications",
    metadata=models.metadata,
    tables=models.plumbing,
    migrations_dir=migrations_dir(__file__),
    declaration=personal_data.DECLARATION,
    participant_class=personal_data.NotificationsParticipant,
    build=build,
    build_routes=handlers.build_routes,
    blueprints=api.BLUEPRINTS,
    build_loops=lambda ctx: [sender(ctx)],
)
