"""The dsar service's wiring, in one place: its use cases (built once per process), the
events they handle (handlers.py's map), the routes that reach them (api.py) and the
sweeper loop of the worker."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from shared.db import transaction
from shared.erasure_ledger import ledger_from_url
from shared.service import Loop, ServiceContext, ServiceSpec, migrations_dir
from shared.worker import periodic

from . import api, handlers, models, personal_data
from .service import Dsar


@dataclass(frozen=True)
class UseCases:
    dsar: Dsar


def build(ctx: ServiceContext) -> UseCases:
    return UseCases(Dsar(ctx.outbox, removed_retention=dt.timedelta(
        days=ctx.settings.removed_student_retention_days),
        ledger=ledger_from_url(ctx.settings.erasure_ledger_url),
        receipt_keys=ctx.receipt_keys))


def sweeper(ctx: ServiceContext, every_seconds: float = 30.0) -> Loop:
    """Re-asks silent services and deletes expired exports."""
    uses: UseCases = ctx.use_cases

    def round_() -> None:
        with transaction(ctx.sessions) as session:
            uses.dsar.sweep(session)
    return periodic("dsar.sweeper", every_seconds, round_)


SPEC = ServiceSpec(
    name="dsar",
    metadata=models.metadata,
    tables=models.plumbing,
    migrations_dir=migrations_dir(__file__),
    declaration=personal_data.DECLARATION,
    build=build,
    build_routes=handlers.build_routes,
    blueprints=api.BLUEPRINTS,
    build_loops=lambda ctx: [sweeper(ctx)],
)
