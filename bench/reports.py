"""Reports: a school's term applied from events, all reports published, then report reads
under gunicorn beside a trivial endpoint of the same app, in one run.

    make bench            (or: .venv/bin/python -m bench.reports --students 2000)

The default is the issue's 2,000-student term (about 145,000 events): applied one
transaction per event, that takes over ten minutes on a 2-core machine until the
performance issue's batched consumer; `--students 200` gives a quick reading.

Events are applied as the consumer applies them (the idempotent DeliveryProcessor, one
transaction per event) on PostgreSQL (PP_TEST_DATABASE_URL; a database of its own, dropped
after). Reads: gunicorn with 2 sync workers, 16 client threads, each a verified parent
reading its child's report; the baseline is `/healthz` of the same app under the same load.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.common import temporary_database
from bench.ingest import term
from services.ingest import domain as ingest_domain
from services.ingest.service import validate_event
from services.reports.app import SPEC
from services.reports.models import parent_access
from shared.auth import TokenSigner
from shared.config import Settings
from shared.db import transaction
from shared.messaging.consumer import DeliveryProcessor
from shared.messaging.envelope import new_envelope
from shared.service import ServiceRuntime

ROOT = Path(__file__).resolve().parents[1]


def integration_events(pushed: list[dict], school_id: str) -> list:
    """What ingest would publish for the term, as envelopes (reports' share of them)."""
    ids: dict[tuple[str, str], str] = {}

    def resolve(record_type, source_id):
        return ids.setdefault((record_type, source_id), str(uuid.uuid4()))
    wanted = {"StudentRecorded", "StudentPlacementRecorded", "StaffRecorded",
              "ClassRecorded", "AttainmentRecorded", "CharacteristicRecorded"}
    out = []
    for raw in pushed:
        kind, source_id, data = validate_event(raw)
        record_id = resolve(ingest_domain.KINDS[kind][0], source_id)
        for event_type, event in ingest_domain.translate(kind, record_id, data, resolve):
            if event_type in wanted:
                out.append(new_envelope(event_type, {**event, "record_version": 1},
                                        producer="ingest", school_id=school_id))
    return out


def load(url: str, token: str, count: int, threads: int = 16) -> tuple[float, list[float]]:
    """Requests per second and each request's latency (seconds)."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = count // threads

    def worker():
        session = requests.Session()
        mine = []
        for _ in range(per_thread):
            start = time.perf_counter()
            response = session.get(url, headers={"Authorization": f"Bearer {token}"},
                                   timeout=30)
            mine.append(time.perf_counter() - start)
            assert response.status_code == 200, response.status_code
        with lock:
            latencies.extend(mine)
    start = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return len(latencies) / (time.perf_counter() - start), latencies


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    school_id = str(uuid.uuid4())
    envelopes = integration_events(term(args.students), school_id)

    url, drop_database = temporary_database("reports")
    server = None
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            settings = replace(Settings.from_env({"PP_DATA_DIR": data_dir}),
                               database_urls={"reports": url})
            rt = ServiceRuntime(SPEC, settings)
            rt.start()
            handlers = rt.handlers_by_channel()["data"]
            processor = DeliveryProcessor("reports", "bench", rt.context.sessions,
                                          rt.spec.tables, handlers)
            start = time.perf_counter()
            for envelope in envelopes:
                assert processor.process(envelope.to_json()) == "applied"
            applied = time.perf_counter() - start

            service = rt.context.extras["reports"]
            start = time.perf_counter()
            with transaction(rt.context.sessions) as session:
                published = service.publish(session, school_id, "2026 Autumn",
                                            "Autumn report", None)
            publishing = time.perf_counter() - start

            # A verified parent for one student, and that student's report id.
            with rt.engine.begin() as conn:
                report_id, student_id = conn.execute(sa.text(
                    "SELECT id, student_id FROM reports LIMIT 1")).one()
                account = str(uuid.uuid4())
                conn.execute(parent_access.insert().values(
                    link_id=str(uuid.uuid4()), school_id=school_id, account_id=account,
                    guardian_id=str(uuid.uuid4()), student_id=student_id, verified=True,
                    record_version=1))
            rt.engine.dispose()

            key = Ed25519PrivateKey.generate()
            public = Path(data_dir) / "token.pub"
            public.write_bytes(key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
            token = TokenSigner(key, lifetime_seconds=3600).issue(account, "parent",
                                                                   [school_id])
            port = _free_port()
            env = {**os.environ, "PP_REPORTS_DATABASE_URL": url, "PP_DATA_DIR": data_dir,
                   "PP_JWT_PUBLIC_KEY_FILE": str(public), "PP_LOG_LEVEL": "WARNING"}
            server = subprocess.Popen(
                [str(Path(sys.executable).with_name("gunicorn")), "-w", "2", "-b",
                 f"127.0.0.1:{port}", "services.reports.wsgi:app"], cwd=ROOT, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            base = f"http://127.0.0.1:{port}"
            _wait_up(f"{base}/healthz")
            load(f"{base}/healthz", token, 200)  # warm both workers
            trivial_rate, trivial = load(f"{base}/healthz", token, args.reads)
            read_rate, reads = load(f"{base}/api/v1/reports/{report_id}", token, args.reads)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        drop_database()

    print(f"\n{'measure':<48} {'count':>7} {'per s':>8}")
    print(f"{'events applied (consumer, a transaction each)':<48} {len(envelopes):>7} "
          f"{len(envelopes) / applied:>8.0f}")
    print(f"{'reports published (snapshots)':<48} {published:>7} "
          f"{published / publishing:>8.0f}")
    print(f"\n{'endpoint (gunicorn -w 2, 16 threads)':<40} {'req/s':>7} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'vs trivial':>10}")
    print(f"{'GET /healthz (baseline)':<40} {trivial_rate:>7.0f} {pct(trivial, 50):>7.1f} "
          f"{pct(trivial, 99):>7.1f} {1:>10.2f}")
    print(f"{'GET /api/v1/reports/{id} (parent)':<40} {read_rate:>7.0f} "
          f"{pct(reads, 50):>7.1f} {pct(reads, 99):>7.1f} {read_rate / trivial_rate:>10.2f}")


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


if __name__ == "__main__":
    main()
