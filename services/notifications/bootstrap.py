"""The notifications service's wiring, in one place: its use cases (built once per
process), the events they handle (handlers.py's map), the routes that reach them (api.py)
and the sender loops of the worker."""
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


def senders(ctx: ServiceContext) -> list[Loop]:
    """A sender loop per SMTP connection (PP_SMTP_CONNECTIONS), each with its own. One
    where a second would gain nothing or be unsafe: the mail folder (no server to wait
    for), SQLite (no row locks keep two senders' batches apart)."""
    notifications = ctx.use_cases.notifications
    settings = ctx.settings
    if settings.smtp_host is None or ctx.engine.dialect.name != "postgresql":
        return [("notifications.sender", notifications.sender(ctx.sessions))]
    return [(f"notifications.sender-{k + 1}",
             notifications.sender(ctx.sessions, notifications.mailer if k == 0
                                  else Mailer(settings)))
            for k in range(settings.smtp_connections)]


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
    build_loops=senders,
)
