"""Prometheus metrics of one service process (web or worker).

Counters live in the process that counts (the relay and consumers in the worker, requests
in the web process); the outbox backlog is read from the service's database at each
scrape, so either process shows it. Labels are service, queue, event type and outcome:
never an id, so series stay few.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram,
                               generate_latest, start_http_server)
from prometheus_client.core import GaugeMetricFamily

from shared.db import utcnow
from shared.messaging.outbox import OutboxState

log = logging.getLogger(__name__)

# The methods a label may name; any other (a client may send any token) counts as `other`,
# so random methods cannot grow the series without bound.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    return method if method in HTTP_METHODS else "other"


REQUEST_SECONDS = Histogram(
    "pp_http_request_duration_seconds", "HTTP request latency",
    ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
PUBLISHED = Counter("pp_events_published_total", "Events confirmed by the broker",
                    ["service", "event_type"])
CONSUMED = Counter("pp_events_consumed_total", "Deliveries applied or found applied",
                   ["service", "queue", "outcome"])
FAILED = Counter("pp_events_failed_total", "Deliveries that failed and will be retried",
                 ["service", "queue"])
DEAD_LETTERED = Counter("pp_events_dead_lettered_total", "Deliveries set aside as dead "
                        "letters", ["service", "queue"])

class OutboxBacklog:
    """pp_outbox_backlog and pp_outbox_oldest_age_seconds per service, read at scrape time
    (one collector for the process: embedded mode holds every service)."""

    def __init__(self) -> None:
        self.outboxes: dict[str, tuple[sa.Engine, sa.Table]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        backlog = GaugeMetricFamily("pp_outbox_backlog", "Events written, not yet confirmed "
                                    "by the broker", labels=["service"])
        age = GaugeMetricFamily("pp_outbox_oldest_age_seconds", "Age of the oldest unsent "
                                "event", labels=["service"])
        for service, (engine, outbox) in sorted(self.outboxes.items()):
            try:
                with engine.connect() as conn:
                    count, oldest = conn.execute(sa.select(
                        sa.func.count(), sa.func.min(outbox.c.created_at)).where(
                        OutboxState.WAITING.rows(outbox))).one()
            except Exception:  # the database is away: leave it out, not fail the scrape
                log.warning("outbox backlog unreadable service=%s", service)
                continue
            backlog.add_metric([service], count)
            age.add_metric([service], (utcnow() - oldest).total_seconds() if oldest else 0)
        yield backlog
        yield age


_BACKLOG = OutboxBacklog()
REGISTRY.register(_BACKLOG)


def watch_outbox(service: str, engine: sa.Engine, outbox: sa.Table) -> None:
    """Report this service's outbox (the newest engine wins: tests build many)."""
    _BACKLOG.outboxes[service] = (engine, outbox)


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def serve(port: int) -> None:
    """A worker's /metrics (it has no web app of its own)."""
    start_http_server(port)
    log.info("metrics on port %d", port)
