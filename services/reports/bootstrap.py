"""The reports service's wiring, in one place: its use cases (built once per process), the
events they handle (handlers.py's map), the routes that reach them (api.py) and the
announcer loop of the worker."""
from __future__ import annotations

from dataclasses import dataclass

from shared.db import transaction
from shared.service import Loop, ServiceContext, ServiceSpec, migrations_dir, participant_of
from shared.worker import periodic

from . import api, handlers, models, personal_data
from .reader import OneRowReader
from .service import Reports


@dataclass(frozen=True)
class UseCases:
    reports: Reports
    reader: OneRowReader  # the report reads' own pool (reader.py)


def build(ctx: ServiceContext) -> UseCases:
    participant = participant_of(ctx, personal_data.ReportsParticipant)
    return UseCases(Reports(ctx.outbox, participant), OneRowReader(ctx.engine))


def announcer(ctx: ServiceContext, every_seconds: float = 15.0) -> Loop:
    """Sends ReportPublished for embargoed reports as their `visible_from` passes."""
    uses: UseCases = ctx.use_cases

    def round_() -> None:
        with transaction(ctx.sessions) as session:
            uses.reports.announce_due(session)
    return periodic("reports.announcer", every_seconds, round_)


SPEC = ServiceSpec(
    name="reports",
    metadata=models.metadata,
    tables=models.plumbing,
    migrations_dir=migrations_dir(__file__),
    declaration=personal_data.DECLARATION,
    participant_class=personal_data.ReportsParticipant,
    build=build,
    build_routes=handlers.build_routes,
    blueprints=api.BLUEPRINTS,
    build_loops=lambda ctx: [announcer(ctx)],
)
