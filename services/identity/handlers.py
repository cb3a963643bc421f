"""Event handlers of the identity service, and their one explicit map.

Rights events are answered by the shared participant (see personal_data.py).
"""
from __future__ import annotations

from shared.service import ServiceContext


def build_handlers(ctx: ServiceContext) -> dict:
    return {}
