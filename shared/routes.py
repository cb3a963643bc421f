"""The one route table: path prefix -> owning service.

The embedded gateway dispatches with it; the nginx configuration (deploy/) is generated
from it. Prefixes match whole path segments.
"""
from __future__ import annotations

from shared.config import SERVICES

ROUTES: tuple[tuple[str, str], ...] = (
    ("/.well-known", "identity"),
    ("/api/v1/auth", "identity"),
    ("/api/v1/me", "identity"),
    ("/api/v1/schools", "identity"),
    ("/api/v1/accounts", "identity"),
    ("/api/v1/school-data", "ingest"),
    ("/api/v1/links", "linking"),
    ("/api/v1/students", "reports"),
    ("/api/v1/reports", "reports"),
    ("/api/v1/notification-preferences", "notifications"),
    ("/api/v1/privacy-notices", "notifications"),
    ("/api/v1/audit-witness", "notifications"),  # dsar's audit chain witnessed (issue 30)
    ("/api/v1/subject-requests", "dsar"),
    ("/api/v1/data-map", "dsar"),  # generated from every service's declaration
    ("/api/v1/offboardings", "dsar"),  # the operator follows each school's offboarding
    ("/asyncapi", "identity"),  # every service serves the same document
    *((f"/openapi/{service}", service) for service in SERVICES),
    # Each service's receipt keys, a JWKS (shared/receipts; issue 30).
    *((f"/receipt-keys/{service}", service) for service in SERVICES),
)


def route(path: str) -> str | None:
    """The service owning `path`, by the longest matching prefix; None if no service."""
    best: tuple[int, str] | None = None
    for prefix, service in ROUTES:
        if path == prefix or path.startswith(prefix + "/"):
            if best is None or len(prefix) > best[0]:
                best = (len(prefix), service)
    return best[1] if best else None
