"""Embedded mode (`make run`): every service in one process behind one gateway port.

Same code as production except the broker (kombu memory://) and the databases (SQLite
files in PP_DATA_DIR). Ctrl-C stops taking requests, drains the in-memory queues and the
outboxes, then exits.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from shared import heap
from shared.config import SERVICES, Settings
from shared.gateway import AccessLog, Gateway
from shared.logging_setup import configure_logging
from shared.messaging.publisher import broker_connection
from shared.service import ServiceRuntime, ServiceSpec
from shared.webapp import WebApp
from shared.worker import run_threads

log = logging.getLogger("pp.embedded")


def load_specs(names: Iterable[str] = SERVICES) -> list[ServiceSpec]:
    return [importlib.import_module(f"services.{name}.app").SPEC for name in names]


class EmbeddedSystem:
    def __init__(self, settings: Settings, specs: list[ServiceSpec]):
        self.settings = settings
        self.runtimes = {spec.name: ServiceRuntime(spec, settings) for spec in specs}
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.gateway: Gateway | None = None

    def start(self) -> Gateway:
        apps = {}
        for runtime in self.runtimes.values():
            runtime.start()
        signer = self.runtimes.get("identity")
        for name, runtime in self.runtimes.items():
            if signer is not None:
                # One process: every service trusts identity's keys directly, so a key
                # rotation reaches them at once (separate processes use PP_JWKS_URL).
                runtime.verifier = signer.verifier
            apps[name] = runtime.create_app()
        for runtime in self.runtimes.values():
            self.threads += run_threads(runtime.build_workers(), self.stop_event)
        readiness = {name: self._ready_check(rt) for name, rt in self.runtimes.items()}
        self.gateway = Gateway(apps, readiness, web=WebApp())
        return self.gateway

    @staticmethod
    def _ready_check(runtime: ServiceRuntime) -> Callable[[], bool]:
        def check() -> bool:
            checks = runtime.ready()
            consuming = all(w.connected.is_set() for w in runtime.queue_workers)
            return consuming and all(v == "ok" for v in checks.values())
        return check

    def _queued_messages(self) -> int:
        total = 0
        conn = broker_connection(self.settings.broker_url)
        try:
            channel = conn.channel()
            for runtime in self.runtimes.values():
                for worker in runtime.queue_workers:
                    _, count, _ = channel.queue_declare(queue=worker.queue.name, passive=True)
                    total += count
        finally:
            conn.release()
        return total

    def quiet(self) -> bool:
        """Nothing waiting in an outbox or a queue, and every consumer idle."""
        pending = sum(rt.relay.pending() for rt in self.runtimes.values() if rt.relay)
        if pending:
            return False
        if self._queued_messages():
            return False
        return all(w.idle.is_set() for rt in self.runtimes.values()
                   for w in rt.queue_workers)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until the system has been quiet twice in a row, or the deadline passes."""
        deadline = time.monotonic() + timeout
        calm = 0
        while time.monotonic() < deadline:
            for rt in self.runtimes.values():
                if rt.relay:
                    rt.relay.wakeup.set()
            calm = calm + 1 if self.quiet() else 0
            if calm >= 2:
                return True
            time.sleep(0.3)  # polling our own in-process queues, not test synchronisation
        return False

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=10)
        for runtime in self.runtimes.values():
            runtime.engine.dispose()


class _Handler(WSGIRequestHandler):
    """werkzeug's lines carry the raw request line (its query: tokens, searched names) and
    the client's address: AccessLog logs each request instead, and a request refused before
    the app is logged by its status alone."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:
        status = next((a for a in args if isinstance(a, int)), "-")
        log.warning("request refused by the HTTP server status=%s", status)


def serve(gateway: Gateway, host: str, port: int) -> BaseWSGIServer:
    """The gateway's HTTP server (its serve_forever serves until shutdown())."""
    return make_server(host, port, AccessLog(gateway), threaded=True,
                       request_handler=_Handler)


def boxed(lines: list[str], wrap: int = 88) -> str:
    """Lines in a box of plain characters, so they stand out among the log lines; a long
    line wraps, its continuation indented as it was."""
    lines = [part for line in lines for part in (textwrap.wrap(
        line, wrap, subsequent_indent=" " * (len(line) - len(line.lstrip()) + 2),
        break_long_words=False, break_on_hyphens=False) or [""])]
    width = max(len(line) for line in lines)
    rule = "+" + "-" * (width + 2) + "+"
    return "\n".join([rule, *(f"| {line.ljust(width)} |" for line in lines), rule])


def _load_demo(system: EmbeddedSystem, gateway: Gateway, settings: Settings,
               show_operator_password: bool) -> str | None:
    """Load the demo school before the port opens; a failure is reported and the system
    runs on without it. Answers the logins to print once the port is open."""
    from shared import demo
    print("Loading the demo school...", flush=True)
    email, password = settings.bootstrap_operator_email, settings.bootstrap_operator_password
    assert email and password, "main() names an operator before loading the demo"
    try:
        result = demo.load_demo(
            gateway, settings.data_dir, lambda: system.drain(timeout=60),
            (email, password),
            operator_password_shown=show_operator_password)
    except Exception as exc:  # the demo is a convenience: the system itself still runs
        # DemoError's text names the step and status only; another error's might carry
        # the data it failed on, so only its type is told.
        reason = str(exc) if isinstance(exc, demo.DemoError) else type(exc).__name__
        log.error("demo school not loaded: %s", reason)
        print(f"The demo school could not be loaded: {reason}", flush=True)
        return None
    return demo.logins_text(result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run Pupil Progress in embedded mode.")
    parser.add_argument("--demo", action="store_true", help="also load a demo school")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    if logging.getLogger().getEffectiveLevel() >= logging.INFO:
        # A line per event applied is for following one request through a deployment;
        # here it buried the demo's logins (issue 24). PP_LOG_LEVEL=DEBUG shows them.
        logging.getLogger("shared.messaging.consumer.applied").setLevel(logging.WARNING)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    operator_from_env = bool(settings.bootstrap_operator_email
                             and settings.bootstrap_operator_password)
    if args.demo and not operator_from_env:
        from shared import demo
        # The demo needs an operator to create its school: a made-up one unless named.
        settings = replace(settings, bootstrap_operator_email=demo.OPERATOR[0],
                           bootstrap_operator_password=demo.OPERATOR[1])
    system = EmbeddedSystem(settings, load_specs())
    gateway = system.start()
    logins = _load_demo(system, gateway, settings, show_operator_password=not operator_from_env
                        ) if args.demo else None
    heap.settle()  # every service started (shared/heap.py)
    host = os.environ.get("PP_GATEWAY_HOST", "127.0.0.1")
    server = serve(gateway, host, settings.gateway_port)
    serving = threading.Thread(target=server.serve_forever, name="gateway", daemon=True)
    serving.start()
    running = (f"Pupil Progress is running on http://{host}:{settings.gateway_port} "
               f"(data in {settings.data_dir}); Ctrl-C to stop.")
    # Last, after every line of starting up, and boxed: what to open and how to sign in.
    print(boxed([running, *(["", *logins.splitlines()] if logins else [])]), flush=True)

    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    stopping.wait()
    print("Stopping: no new requests; draining queues...", flush=True)
    gateway.accepting = False
    server.shutdown()
    drained = system.drain()
    system.stop()
    print("Stopped." if drained else "Stopped; some messages were still in flight "
          "(they remain in the outboxes and are sent at the next start).", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
