"""Reports: a parent reading a published report under gunicorn, beside a trivial endpoint of
the same app (`/healthz`) under the same load, in one run.

    make bench            (or: .venv/bin/python -m bench.reports [--quick])

The school: 2,000 students (200 with --quick), ten subjects, three attainment records and
four characteristics per student and subject, a teacher per class, 1.5 verified parents per
student. It is written straight into the reports service's projections in one transaction
and then published through the service's own `publish` (the snapshots the API serves), on
PostgreSQL (PP_TEST_DATABASE_URL; a database of its own, dropped after). A term applied
event by event through the consumer is another benchmark's figure, not this one's.

Reads: gunicorn with 2 sync workers (as deployed), 32 concurrent client connections from a
small asyncio client (a new connection per request, since sync workers close each one).
The client takes about 0.3 ms of CPU per request where 32 threads with requests.Session
take 1.2 ms, leaving the shared cores to the server. Each report read is the next of 500
verified parents (each with a token of its own) reading their child's report; the
baseline is `/healthz` of the same app. After a warm-up the two alternate in 16 short
rounds, so background load on a shared machine falls on both alike: 4,000 requests each
(1,000 with --quick).

Beside the rates, the machine's CPU per request of each (gunicorn's processes, the
database's backends and the client, from /proc and the client's own clock, summed over the
same rounds): unlike the rates, it barely moves with the machine's load, so it says whether
a change made a read cheaper (the split is printed to stderr).
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Callable, TypeVar

import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.common import Figure, free_port, percentile_ms, table, temporary_database
from bench.hops import cpu_seconds
from services.reports import models as m
from services.reports.app import SPEC
from shared.auth import TokenSigner
from shared.config import Settings
from shared.db import transaction
from shared.service import ServiceRuntime

ROOT = Path(__file__).resolve().parents[1]
GROUP = "reports"
PERIOD = "2026 Autumn"
SUBJECTS = ("Maths", "English", "Science", "History", "Geography", "French", "Art",
            "Music", "Computing", "PE")
CONNECTIONS = 32
READERS = 500  # distinct parents (tokens) the reads cycle through
ROUNDS = 16  # healthz and report reads alternate this many times
T = TypeVar("T")


def seed(rt: ServiceRuntime, school_id: str, students: int) -> list[tuple[str, str]]:
    """The school's projections, written in one transaction, then published. Returns
    (parent account id, their child's report id) for every verified parent."""
    ids = [str(uuid.uuid4()) for _ in range(students)]
    rows: dict[sa.Table, list[dict]] = {t: [] for t in (
        m.students, m.staff, m.classes, m.class_teachers, m.enrolments, m.attainment,
        m.characteristics, m.parent_access)}
    classes = _staff_and_classes(rows, school_id, students)
    groups = max(1, students // 25)
    for s, sid in enumerate(ids):
        _student(rows, school_id, s, sid)
        for subject in SUBJECTS:
            _results(rows, school_id, sid, classes[(subject, s % groups)])
    rows[m.parent_access] = [{
        "link_id": str(uuid.uuid4()), "school_id": school_id,
        "account_id": str(uuid.uuid4()), "guardian_id": str(uuid.uuid4()),
        "student_id": ids[g % students], "verified": True, "record_version": 1}
        for g in range(students * 3 // 2)]
    return _write_and_publish(rt, school_id, students, rows)


def _staff_and_classes(rows: dict[sa.Table, list[dict]], school_id: str,
                       students: int) -> dict[tuple[str, int], str]:
    """The teachers, and a class per subject and group with its teacher: the classes' ids
    by (subject, group)."""
    staff = [str(uuid.uuid4()) for _ in range(max(10, students // 20))]
    classes = {(subject, c): str(uuid.uuid4()) for subject in SUBJECTS
               for c in range(max(1, students // 25))}
    rows[m.staff] = [{"staff_id": t, "school_id": school_id, "record_version": 1,
                      "name": f"Ms Teacher{i} Staff"} for i, t in enumerate(staff)]
    for (subject, c), class_id in classes.items():
        rows[m.classes].append({"class_id": class_id, "school_id": school_id,
                                "name": f"{subject} {c}", "subject": subject,
                                "record_version": 1})
        rows[m.class_teachers].append({"class_id": class_id, "staff_id": staff[c % len(staff)],
                                       "school_id": school_id})
    return classes


def _student(rows: dict[sa.Table, list[dict]], school_id: str, s: int, sid: str) -> None:
    rows[m.students].append({"student_id": sid, "school_id": school_id,
                             "name": f"Given{s} Family{s}", "form_group": f"{7 + s % 5}A",
                             "year_group": 7 + s % 5, "name_version": 1,
                             "placement_version": 1})


def _results(rows: dict[sa.Table, list[dict]], school_id: str, sid: str,
             class_id: str) -> None:
    """One student's enrolment, three attainments and four characteristics in a class."""
    common = {"school_id": school_id, "student_id": sid, "class_id": class_id,
              "period": PERIOD, "record_version": 1}
    rows[m.enrolments].append({"class_id": class_id, "student_id": sid,
                               "school_id": school_id})
    for kind, value in (("mark", "67"), ("grade", "B"), ("target", "A")):
        rows[m.attainment].append({**common, "attainment_id": str(uuid.uuid4()),
                                   "kind": kind, "value": value,
                                   "out_of": 100.0 if kind == "mark" else None,
                                   "topic": "Term test" if kind == "mark" else None})
    for kind in ("attitude", "effort", "behaviour", "attendance"):
        rows[m.characteristics].append({**common, "characteristic_id": str(uuid.uuid4()),
                                        "kind": kind, "value": "Good"})


def _write_and_publish(rt: ServiceRuntime, school_id: str, students: int,
                       rows: dict[sa.Table, list[dict]]) -> list[tuple[str, str]]:
    """The rows in one transaction, the period published: (parent account, report) pairs."""
    service = rt.context.use_cases.reports
    with transaction(rt.context.sessions) as session:
        for table_, batch in rows.items():
            session.execute(table_.insert(), batch)
        published = service.publish(session, school_id, PERIOD, "Autumn report", None)
    assert published == students, published
    with rt.engine.begin() as conn:
        conn.execute(sa.text("ANALYZE"))
        return [tuple(r) for r in conn.execute(
            sa.select(m.parent_access.c.account_id, m.reports.c.id)
            .join(m.reports, m.reports.c.student_id == m.parent_access.c.student_id))]


async def _load(host: str, port: int, requests_: list[bytes],
                connections: int = CONNECTIONS) -> tuple[float, list[float]]:
    """Requests per second over all of `requests_` (raw HTTP requests, sent `connections`
    at a time, each on a new connection) and each one's latency in seconds."""
    todo = iter(requests_)
    latencies: list[float] = []

    async def connection() -> None:
        for raw in todo:  # shared iterator: each request is sent once
            start = time.perf_counter()
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(raw)
            answer = await reader.read()  # sync workers close after the response
            writer.close()
            latencies.append(time.perf_counter() - start)
            if not answer.startswith(b"HTTP/1.1 200 "):
                raise RuntimeError(f"unexpected answer: {answer[:40]!r}")
    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return len(latencies) / (time.perf_counter() - start), latencies


def _request(port: int, path: str, token: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}"
            "Connection: close\r\n\r\n").encode()


class CpuMeter:
    """CPU seconds spent by the server (gunicorn with its workers), the database's backends
    and this process (the client), summed over the measured rounds of each kind."""

    def __init__(self, server_pid: int, database_url: str):
        self.server_pid = server_pid
        self.database = sa.make_url(database_url).database
        self.admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT",
                                      poolclass=sa.pool.NullPool)
        self.spent: dict[str, dict[str, float]] = {}

    def _now(self) -> dict[str, float]:
        with self.admin.connect() as conn:  # the server's own connections, not this one
            backends = conn.execute(sa.text(
                "SELECT pid FROM pg_stat_activity WHERE datname = :db"
                " AND pid <> pg_backend_pid()"), {"db": self.database}).scalars().all()
        seconds = cpu_seconds({"server": self.server_pid,
                               **{f"postgres {pid}": pid for pid in backends}})
        return {"server": seconds.pop("server"), "database": sum(seconds.values())}

    def measure(self, kind: str, work: Callable[[], T]) -> T:
        """work(), its CPU counted under `kind` (the client's: work's alone, not the
        readings of /proc and the database)."""
        before = self._now()
        started = time.process_time()
        done = work()
        client = time.process_time() - started
        after = {**self._now(), "client": client}
        before["client"] = 0.0
        spent = self.spent.setdefault(kind, {})
        for part, seconds in after.items():  # a backend gone in between counts as 0
            spent[part] = spent.get(part, 0.0) + max(0.0, seconds - before.get(part, 0.0))
        return done


def measure(port: int, readers: list[tuple[str, str]], tokens: dict[str, str],
            count: int, cpu: CpuMeter) -> dict[str, tuple[float, list[float]]]:
    """/healthz and report reads in alternate rounds, `count` of each: for each, requests
    per second over its rounds, and every request's latency in seconds (and the CPU spent
    on each kind, in `cpu`)."""
    reads = itertools.cycle([_request(port, f"/api/v1/reports/{report}", tokens[account])
                             for account, report in readers])
    health = _request(port, "/healthz")
    # Warm-up: both workers started, database connections opened and statements prepared,
    # every reader's token seen (so mostly verified once) by each worker.
    asyncio.run(_load("127.0.0.1", port, [health] * 200))
    asyncio.run(_load("127.0.0.1", port, list(itertools.islice(reads, 2 * len(readers)))))
    seconds = {"healthz": 0.0, "report": 0.0}
    latencies: dict[str, list[float]] = {"healthz": [], "report": []}
    per_round = count // ROUNDS
    for round_ in range(ROUNDS):
        order = ("healthz", "report") if round_ % 2 == 0 else ("report", "healthz")
        for name in order:  # ABBA: a drifting background load favours neither
            batch = ([health] * per_round if name == "healthz"
                     else list(itertools.islice(reads, per_round)))
            rate, measured = cpu.measure(name, lambda batch=batch: asyncio.run(
                _load("127.0.0.1", port, batch)))
            seconds[name] += len(measured) / rate
            latencies[name] += measured
    return {name: (len(latencies[name]) / seconds[name], latencies[name])
            for name in latencies}


def figures(quick: bool = False) -> list[Figure]:
    students = 200 if quick else 2000
    count = 1000 if quick else 4000
    school_id = str(uuid.uuid4())
    url, drop_database = temporary_database("reports")
    server = None
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            settings = replace(Settings.from_env({"PP_DATA_DIR": data_dir}),
                               database_urls={"reports": url})
            rt = ServiceRuntime(SPEC, settings)
            rt.start()
            start = time.perf_counter()
            parents = seed(rt, school_id, students)
            print(f"seeded and published {students} students' reports in "
                  f"{time.perf_counter() - start:.1f} s", file=sys.stderr)
            rt.engine.dispose()
            readers = random.Random(13).sample(parents, min(READERS, len(parents)))

            key = Ed25519PrivateKey.generate()
            public = Path(data_dir) / "token.pub"
            public.write_bytes(key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
            signer = TokenSigner(key, lifetime_seconds=3600)
            tokens = {account: signer.issue(account, "parent", [school_id])
                      for account, _ in readers}
            port = free_port()
            env = {**os.environ, "PP_REPORTS_DATABASE_URL": url, "PP_DATA_DIR": data_dir,
                   "PP_JWT_PUBLIC_KEY_FILE": str(public), "PP_LOG_LEVEL": "WARNING",
                   "PP_BIND": f"127.0.0.1:{port}", "PP_METRICS_PORT": ""}
            server = subprocess.Popen(  # as deployed: the image's gunicorn settings
                [str(Path(sys.executable).with_name("gunicorn")), "-c",
                 str(ROOT / "deploy" / "gunicorn.conf.py"), "services.reports.wsgi:app"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _wait_up(f"http://127.0.0.1:{port}/healthz")
            cpu = CpuMeter(server.pid, url)
            results = measure(port, readers, tokens, count, cpu)
            cpu.admin.dispose()
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        drop_database()

    (trivial_rate, trivial), (read_rate, reads) = results["healthz"], results["report"]
    load = f"gunicorn -w 2, {CONNECTIONS} connections"
    per_request = _cpu_per_request(cpu, results)
    return [
        Figure(GROUP, f"GET /api/v1/reports/{{id}}, a parent ({load})", read_rate, "req/s",
               "GET /healthz, same app and load", trivial_rate, target=0.75),  # issue 27
        Figure(GROUP, f"GET /api/v1/reports/{{id}} p99 ({load})", percentile_ms(reads, 99),
               "ms", "GET /healthz p99", percentile_ms(trivial, 99), target=1.5,
               higher_is_better=False),
        Figure(GROUP, "CPU per report read (server, database, client)",
               sum(per_request["report"].values()), "ms", "CPU per /healthz",
               sum(per_request["healthz"].values()), higher_is_better=False),
    ]


def _cpu_per_request(cpu: CpuMeter, results: dict[str, tuple[float, list[float]]]
                     ) -> dict[str, dict[str, float]]:
    """Each kind's CPU milliseconds per request by part (server, database, client), the
    split printed to stderr."""
    per_request = {kind: {part: seconds * 1000 / len(results[kind][1])
                          for part, seconds in parts.items()}
                   for kind, parts in cpu.spent.items()}
    for kind, parts in per_request.items():
        print(f"CPU per request, {kind}: " + ", ".join(
            f"{part} {ms:.3f} ms" for part, ms in parts.items()), file=sys.stderr)
    return per_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="200 students and 1,000 requests of each kind")
    args = parser.parse_args()
    print(table(figures(quick=args.quick)))


def _wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or busy starting
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


if __name__ == "__main__":
    main()
