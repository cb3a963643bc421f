"""The notifications service's app factory (its wiring: bootstrap.py)."""
from __future__ import annotations

from flask import Flask

from shared.config import Settings
from shared.service import create_service_app

from .bootstrap import SPEC

__all__ = ["SPEC", "create_app"]


def create_app(settings: Settings | None = None) -> Flask:
    return create_service_app(SPEC, settings)
