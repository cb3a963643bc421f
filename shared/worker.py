"""A service's worker process: its consumers and its outbox relay, until SIGTERM/SIGINT."""
from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable

from shared import heap, metrics
from shared.config import Settings
from shared.logging_setup import configure_logging
from shared.service import Loop, ServiceRuntime, ServiceSpec

log = logging.getLogger(__name__)


def run_threads(loops: Iterable[Loop], stop: threading.Event) -> list[threading.Thread]:
    threads = []
    for name, target in loops:
        thread = threading.Thread(target=target, args=(stop,), name=name, daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def periodic(name: str, every_seconds: float, work: Callable[[], object]) -> Loop:
    """A worker loop running `work` every so often until stopped (schedulers, sweepers);
    a failing round is logged and the next one tries again."""
    def run(stop: threading.Event) -> None:
        while not stop.wait(every_seconds):
            try:
                work()
            except Exception:  # the database may be away for a moment: next round
                log.warning("%s failed this round", name, exc_info=True)
    return name, run


def lower_priority(settings: Settings) -> int:
    """Bulk work yields the CPU to interactive requests (issue 27, docs/decisions.md): the
    worker process lowers its own priority by PP_WORKER_NICE before it starts any thread
    (Linux threads take their creator's niceness); web processes keep theirs. The one
    place of truth for the stack, compose and Kubernetes alike. Returns the niceness now."""
    return os.nice(settings.worker_nice) if settings.worker_nice > 0 else os.nice(0)


def run_worker(spec: ServiceSpec, settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format, spec.name)
    settings.require_real_broker()
    niceness = lower_priority(settings)
    runtime = ServiceRuntime(spec, settings)
    runtime.start()
    frozen = heap.settle()  # started: what lives for the process is never scanned again
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
    threads = run_threads(runtime.build_workers(), stop)
    log.info("worker started service=%s threads=%d nice=%d frozen=%d", spec.name,
             len(threads), niceness, frozen)
    stop.wait()
    for thread in threads:
        thread.join(timeout=15)
    log.info("worker stopped service=%s", spec.name)
