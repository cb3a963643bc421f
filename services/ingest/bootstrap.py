"""The ingest service's wiring, in one place: its use cases (built once per process), the
events they handle (handlers.py's map) and the routes that reach them (api.py)."""
from __future__ import annotations

from dataclasses import dataclass

from shared.service import Loop, ServiceContext, ServiceSpec, migrations_dir, participant_of
from shared.worker import periodic

from . import api, handlers, models, personal_data
from .jobs import RosterJobs
from .pace import PushPace
from .service import Ingest, RosterImport


@dataclass(frozen=True)
class UseCases:
    ingest: Ingest
    roster: RosterImport  # OneRoster bundles, applied through `ingest`
    jobs: RosterJobs  # OneRoster uploads: accepted by the request, applied by the worker


def build(ctx: ServiceContext) -> UseCases:
    ingest = Ingest(ctx.outbox, participant_of(ctx, personal_data.IngestParticipant),
                    PushPace(ctx.settings.ingest_school_events_per_second),
                    turn=ctx.settings.relay_pack)
    roster = RosterImport(ingest)
    return UseCases(ingest, roster, RosterJobs(roster, ctx.engine))


def roster_jobs(ctx: ServiceContext, every_seconds: float = 0.5) -> Loop:
    """Applies the OneRoster uploads accepted (the request only stores them)."""
    uses: UseCases = ctx.use_cases
    return periodic("ingest.roster_jobs", every_seconds,
                    lambda: uses.jobs.drain(ctx.sessions))


SPEC = ServiceSpec(
    name="ingest",
    metadata=models.metadata,
    tables=models.plumbing,
    migrations_dir=migrations_dir(__file__),
    declaration=personal_data.DECLARATION,
    participant_class=personal_data.IngestParticipant,
    build=build,
    build_routes=handlers.build_routes,
    blueprints=api.BLUEPRINTS,
    build_loops=lambda ctx: [roster_jobs(ctx)],
    outbox_retention_seconds=0,  # sent payloads are blanked at once: nothing personal stays
)
