"""HTTP API of the notifications service (flask-smorest blueprints)."""
from __future__ import annotations

from shared.service import ServiceContext


def build_blueprints(ctx: ServiceContext) -> list:
    return []
