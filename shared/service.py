"""Running one service: its database, outbox, use cases, handlers, rights participant, web
app and worker threads, as its `bootstrap.py` specifies them (ServiceSpec). The same
runtime serves gunicorn, the worker process and embedded mode."""
from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import sqlalchemy as sa
from flask import Flask, current_app, jsonify
from flask_smorest import Blueprint
from sqlalchemy.orm import Session

from shared import contracts, metrics
from shared.contracts import typed
from shared.auth import TokenVerifier, verifier_from_settings
from shared.config import Settings
from shared.logging_setup import configure_logging
from shared.malloc import return_large_blocks
from shared.db import make_engine, make_session_factory, ping, run_in_transaction, upgrade
from shared.messaging import topology
from shared.messaging.consumer import DeliveryProcessor, Event, Route, route
from shared.messaging.queue_worker import QueueWorker
from shared.messaging.outbox import Outbox
from shared.messaging.publisher import BrokerPublisher, broker_connection, connect
from shared.messaging.relay import OutboxRelay
from shared.receipts import ReceiptKeys
from shared.receipts.keys import receipt_sealer
from shared.sealing import Sealer, read_secret
from shared.revocations import RevocationView, apply_revocations
from shared.rights import DataDeclaration, RightsParticipant
from shared.rights.participant import lock_school_data, with_plumbing
from shared.tables import PlumbingTables
from shared.web import create_flask_app

log = logging.getLogger(__name__)

REVOCATION_EVENT = "TokensRevoked"  # every service applies it (shared/revocations.py)
# A worker loop: its name, and what runs it until the event is set.
Loop = tuple[str, Callable[[threading.Event], None]]


@dataclass
class ServiceContext:
    """What a service's handlers and views depend on; built once per process."""
    name: str
    settings: Settings
    engine: sa.Engine
    sessions: Any
    outbox: Outbox
    participant: RightsParticipant | None
    # What the spec's `build` made, once per process: the service's use cases (its
    # bootstrap.py types them).
    use_cases: Any = None
    # The service's receipt signing keys (receipt_keys_for), None without the table.
    receipt_keys: ReceiptKeys | None = None


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    metadata: sa.MetaData
    tables: PlumbingTables
    migrations_dir: Path | None
    declaration: DataDeclaration | None  # None: not in the data map
    # The use cases, built once per process (ServiceContext.use_cases).
    build: Callable[[ServiceContext], Any] = lambda ctx: None
    # The events the service acts on, each routed to its handler (events it does not act
    # on are not routed to it).
    build_routes: Callable[[ServiceContext], Sequence[Route]] = lambda ctx: ()
    # The routes: module-level views on these, reaching the use cases through
    # current_context().
    blueprints: tuple[Blueprint, ...] = ()
    participant_class: type[RightsParticipant] = RightsParticipant
    on_start: Callable[[ServiceContext], None] | None = None
    # The service that signs tokens verifies them from its own keys (see identity).
    build_verifier: Callable[[ServiceContext], TokenVerifier] | None = None
    # Seconds a sent event's payload is kept (None: PP_OUTBOX_RETENTION_SECONDS); 0 blanks
    # it as it is confirmed (ingest keeps no personal data once published).
    outbox_retention_seconds: int | None = None
    # More loops for the worker process, beside consumers and relay (e.g. a scheduler).
    build_loops: Callable[[ServiceContext], list[Loop]] = lambda ctx: []
    # What seals the receipt keys (None: the receipt secret file; identity: its secret).
    receipt_sealer: Callable[[Settings], Sealer] | None = None


RECEIPT_SECRET_SETTING = "PP_RECEIPT_SECRET_FILE"


def receipt_secret_path(settings: Settings, service: str) -> Path:
    if settings.receipt_secret_file:
        return Path(settings.receipt_secret_file)
    return settings.data_dir / "keys" / f"receipt-secret-{service}"


def receipt_keys_for(spec: ServiceSpec, settings: Settings) -> ReceiptKeys | None:
    """The service's receipt signing keys, sealed at rest by its secret: the one way every
    process and command of a service reaches them."""
    if spec.tables.receipt_keys is None:
        return None
    if spec.receipt_sealer is not None:
        sealer = spec.receipt_sealer(settings)
    else:
        path = receipt_secret_path(settings, spec.name)
        sealer = receipt_sealer(
            read_secret(path, named=bool(settings.receipt_secret_file),
                        setting=RECEIPT_SECRET_SETTING),
            f"{spec.name}'s receipt secret ({RECEIPT_SECRET_SETTING} {path})")
    return ReceiptKeys(spec.name, spec.tables.receipt_keys, sealer)


class ServiceRuntime:
    def __init__(self, spec: ServiceSpec, settings: Settings, *,
                 engine: sa.Engine | None = None):
        return_large_blocks()  # every process that runs a service (shared/malloc.py)
        self.spec = spec
        self.settings = settings
        self.engine = engine or make_engine(settings.database_url(spec.name))
        sessions = make_session_factory(self.engine)
        outbox = Outbox(spec.name, spec.tables)
        # The service's receipt signing keys, published at /receipt-keys/<service>.
        self.receipt_keys = receipt_keys_for(spec, settings)
        participant = None
        if spec.declaration is not None:
            participant = spec.participant_class(
                spec.name, with_plumbing(spec.declaration), spec.metadata, spec.tables,
                outbox, receipts=self.receipt_keys)
        self.context = ServiceContext(spec.name, settings, self.engine, sessions, outbox,
                                      participant, receipt_keys=self.receipt_keys)
        self.context.use_cases = spec.build(self.context)
        self.verifier = verifier_from_settings(settings)
        self.revocations = RevocationView(self.engine, spec.tables.token_revocations)
        self.relay: OutboxRelay | None = None
        self.queue_workers: list[QueueWorker] = []

    # --- start-up ---------------------------------------------------------------------
    def migrate(self) -> None:
        if self.spec.migrations_dir is None:  # test services: no migration history
            self.spec.metadata.create_all(self.engine)
            return
        upgrade(self.engine, self.spec.migrations_dir, self.spec.metadata)

    def start(self) -> None:
        self.migrate()
        if self.receipt_keys is not None:
            with self.engine.begin() as conn:  # the service's receipt key, made once
                self.receipt_keys.ensure(conn)
        metrics.watch_outbox(self.spec.name, self.engine, self.spec.tables.outbox)
        if self.spec.on_start:
            self.spec.on_start(self.context)
        if self.spec.build_verifier:
            self.verifier = self.spec.build_verifier(self.context)

    # --- messaging ----------------------------------------------------------------------
    def handlers_by_channel(self) -> dict[str, dict[str, Route]]:
        """The routes of each of the service's queues, by event type."""
        by_type = self._routes_by_type()
        by_channel: dict[str, dict[str, Route]] = {c: {} for c in topology.CHANNELS}
        for channel, contract_list in topology.subscriptions(self.spec.name).items():
            for contract in contract_list:
                if contract.type in by_type:
                    by_channel[channel][contract.type] = by_type[contract.type]
        participant = self.context.participant
        if participant is not None:  # an offboarded school's late data changes nothing
            by_channel[contracts.DATA] = {t: _unless_offboarded(participant, r)
                                          for t, r in by_channel[contracts.DATA].items()}
        stray = set(by_type) - {t for chan in by_channel.values() for t in chan}
        if stray:
            raise ValueError(f"{self.spec.name} handles events the contracts do not route "
                             f"to it: {sorted(stray)}")
        return by_channel

    def _routes_by_type(self) -> dict[str, Route]:
        """Every route of the service: its own, the rights participant's and the token
        revocations every subscriber applies; an event type routed twice is a mistake."""
        routes = list(self.spec.build_routes(self.context))
        if self.context.participant is not None:
            routes += self.context.participant.routes()
        subscribed = topology.subscriptions(self.spec.name).values()
        if REVOCATION_EVENT in {c.type for chan in subscribed for c in chan}:
            routes.append(route(typed.TokensRevoked,
                                apply_revocations(self.spec.tables.token_revocations)))
        by_type = {r.event_type: r for r in routes}
        if len(by_type) != len(routes):
            raise ValueError(f"{self.spec.name} routes an event type twice")
        return by_type

    def build_workers(self) -> list[Loop]:
        """The worker's loops: one consumer per queue, and the outbox relay."""
        loops: list[Loop] = []
        self.queue_workers = []
        self.relay = OutboxRelay(
            self.engine, self.spec.tables, BrokerPublisher(self.settings),
            batch_size=self.settings.relay_batch_size, window=self.settings.publish_window,
            pack=self.settings.relay_pack,
            retention=dt.timedelta(seconds=self.settings.outbox_retention_seconds
                                   if self.spec.outbox_retention_seconds is None
                                   else self.spec.outbox_retention_seconds),
            name=self.spec.name)
        for channel, handlers in self.handlers_by_channel().items():
            if not topology.subscriptions(self.spec.name)[channel]:
                continue
            queue = topology.service_queue(self.settings, self.spec.name, channel)
            processor = DeliveryProcessor(self.spec.name, queue.name, self.context.sessions,
                                          self.spec.tables, handlers,
                                          self.settings.max_attempts,
                                          dt.timedelta(days=self.settings.inbox_retention_days))
            worker = QueueWorker(self.settings, processor, queue, self.relay.wakeup.set)
            self.queue_workers.append(worker)
            loops.append((f"{self.spec.name}.{channel}", worker.run))
        loops.append((f"{self.spec.name}.relay", self.relay.run))
        loops.extend(self.spec.build_loops(self.context))
        return loops

    # --- web ----------------------------------------------------------------------------
    def ready(self) -> dict[str, str]:
        checks = {}
        try:
            ping(self.engine)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable ({type(exc).__name__})"
        try:
            conn = broker_connection(self.settings.broker_url)
            try:
                connect(conn, timeout=3)
            finally:
                conn.release()
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"unavailable ({type(exc).__name__})"
        return checks

    def create_app(self) -> Flask:
        app = create_flask_app(self.spec.name, ready=self.ready, verifier=self.verifier,
                               revocations=self.revocations,
                               blueprints=self.spec.blueprints)
        app.extensions["pp_context"] = self.context
        keys = self.receipt_keys
        if keys is not None:
            def receipt_keys() -> Any:
                """The service's receipt keys, every one it ever signed with (public)."""
                with self.engine.connect() as conn:
                    response = jsonify(keys.jwks(conn))
                response.headers["Cache-Control"] = "public, max-age=300"
                return response
            app.add_url_rule(f"/receipt-keys/{self.spec.name}", "receipt_keys",
                             receipt_keys)
        return app


def _unless_offboarded(participant: RightsParticipant, routed: Route) -> Route:
    """The route with the events of offboarded schools left out (one query a group)."""
    def kept(session: Session, events: Sequence[Event[Any]]) -> None:
        schools = {e.school_id for e in events}
        lock_school_data(session, schools, shared=True)  # no erasure there meanwhile
        offboarded = participant.offboarded_among(session, schools)
        for event in events:
            if event.school_id in offboarded:
                log.info("dropped event of an offboarded school event_id=%s school_id=%s",
                         event.id, event.school_id)
        events = [e for e in events if e.school_id not in offboarded]
        if events:
            routed.handler(session, events)
    return route(routed.data_class, kept, gathered=routed.gathered)


def current_context() -> ServiceContext:
    """The context of the service answering this request (a view's way to its use cases,
    settings and sessions)."""
    context = current_app.extensions["pp_context"]
    assert isinstance(context, ServiceContext)
    return context


T = TypeVar("T")
P = TypeVar("P", bound=RightsParticipant)


def participant_of(ctx: ServiceContext, kind: type[P]) -> P:
    """The service's rights participant, as the class its spec names."""
    if not isinstance(ctx.participant, kind):
        raise TypeError(f"{ctx.name}'s participant is not a {kind.__name__}")
    return ctx.participant



def in_transaction(work: Callable[[Session], T], commit_on: tuple[type[BaseException], ...] = ()
                   ) -> T:
    """`work(session)` in one transaction of the service answering this request."""
    return run_in_transaction(current_context().sessions, work, commit_on=commit_on)


def create_service_app(spec: ServiceSpec, settings: Settings | None = None) -> Flask:
    """The web app of one service, migrated and ready (gunicorn's `wsgi:app`)."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format, spec.name)
    runtime = ServiceRuntime(spec, settings)
    runtime.start()
    return runtime.create_app()


def migrations_dir(service_file: str) -> Path:
    return Path(service_file).resolve().parent / "migrations"


def contracts_consumed(service: str) -> set[str]:
    return {c.type for chan in topology.subscriptions(service).values() for c in chan}


__all__ = ["ServiceContext", "ServiceRuntime", "ServiceSpec", "contracts",
           "contracts_consumed", "create_service_app", "current_context", "in_transaction",
           "migrations_dir"]
