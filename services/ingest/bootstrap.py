"""The ingest service's wiring, in one place: its use cases (built once per process), the
events they handle (handlers.py's map) and the routes that reach them (api.py)."""
from __future__ import annotations

from dataclasses import dataclass

from shared.service import ServiceContext, ServiceSpec, migrations_dir, participant_of

from . import api, handlers, models, personal_data
from .service import Ingest, RosterImport


@dataclass(frozen=True)
class UseCases:
    ingest: Ingest
    roster: RosterImport  # OneRoster bundles, applied through `ingest`


def build(ctx: ServiceContext) -> UseCases:
    ingest = Ingest(ctx.outbox, participant_of(ctx, personal_data.IngestParticipant))
    return UseCases(ingest, RosterImport(ingest))


SPEC = ServiceSpec(
    name="ingest",
    metadata=models.metadata,
    tables=models.plumbing,
    migrations_dir=migrations_dir(__file__),
    declaration=personal_data.DECLARATION,
    participant_class=personal_data.IngestParticipant,
    build=build,
    build_handlers=handlers.build_handlers,
    blueprints=api.BLUEPRINTS,
    outbox_retention_seconds=0,  # sent payloads are blanked at once: nothing personal stays
)
