"""The system targets on the local stack: a school's term through every service, an erasure
during it, each worker's memory; and `make run`'s memory under a term.

    .venv/bin/python -m bench.pipeline --students 2000     (make bench runs it too)
    .venv/bin/python -m bench.pipeline --onboarding-only --hops   (onboarding alone, and
        where its time goes hop by hop: bench/hops.py)

The stack is deploy/stack.py's (every service as its own gunicorn and worker processes on
the machine's RabbitMQ and PostgreSQL, behind nginx on 8080), with the run's own databases,
exchange and queues, removed after.

- Onboarding: the term school's roster (students, guardians, staff, classes: about 3 records
  a student) pushed and applied by every service: each new guardian becomes a parent
  account, an invitation and a mail, each student a link to confirm. Beside the same
  baseline (target 10 %, issue 27), with the rows it wrote in every service's tables
  (PostgreSQL's counters), a record and a second: the work the rate stands for, where the
  baseline writes one row a record into one table.
- Term: then bench.ingest's whole term (`--students`, about 73 records a student: the same
  roster again, as school systems send it, and the term's results) pushed through nginx in
  batches of 5,000 and applied by every consuming service: timed until no outbox row is
  unsent, no queue holds a message, every service's inbox holds every event published for
  it, and the term school's projections (reports, linking, notifications) hold its rows.
  Baseline for both: a bare executemany of as many rows of about the same width (the
  records as JSON), 5,000 a transaction, into one PostgreSQL database.
- Erasure: a student of another school erased across every service (filed through dsar's
  API, timed until the request is completed) once the term's first batch is in, beside the
  same erasure on the idle stack just before.
- Memory: each worker process's resident memory sampled every 0.2 s during the term (peak
  per service), and `make run` (python -m shared.embedded, its own data folder and port)
  while a `--embedded-students` term goes through it.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import threading
import time
import uuid

import sqlalchemy as sa

from bench.common import Figure, table, temporary_database
from bench.hops import cpu_seconds, cpu_table, hop_table
from bench.ingest import term
from bench.stack_world import BATCH, Embedded, Stack, classes_and_marks, rss_mb
from bench.stack_world import students as some_students
from shared.config import SERVICES

GROUP = "pipeline"
WORKER_MB, EMBEDDED_MB = 150, 400
STATISTICS_SECONDS = 11  # PostgreSQL 15 reports an idle backend's counters within 10 s


class PeakMemory:
    """The peak resident memory of each named process, sampled every 0.2 s on a thread."""

    def __init__(self, pids: dict[str, int], tree: bool = False):
        self.pids, self.tree = pids, tree
        self.peak = dict.fromkeys(pids, 0.0)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], rss_mb(pid, self.tree))
            if self.stopped.wait(0.2):
                return

    def __enter__(self) -> PeakMemory:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()


def bare_insert(events: list[dict]) -> float:
    """Rows per second of a bare executemany of the events as JSON rows, a transaction per
    batch, into a database of its own."""
    url, drop_database = temporary_database("pipeline")
    engine = sa.create_engine(url)
    try:
        records = sa.Table(
            "records", sa.MetaData(), sa.Column("id", sa.String(36), primary_key=True),
            sa.Column("school_id", sa.String(36)), sa.Column("record_type", sa.String(50)),
            sa.Column("source_id", sa.String(200)), sa.Column("payload", sa.Text))
        records.create(engine)
        school = str(uuid.uuid4())
        rows = [{"id": str(uuid.uuid4()), "school_id": school, "record_type": e["type"],
                 "source_id": e["source_id"], "payload": json.dumps(e["data"])} for e in events]
        start = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            with engine.begin() as conn:
                conn.execute(records.insert(), rows[i:i + BATCH])
        return len(rows) / (time.perf_counter() - start)
    finally:
        engine.dispose()
        drop_database()


RESULTS = ("attainment.recorded", "characteristic.recorded")


def projections(school: str, count: int,
                results: bool = True) -> dict[tuple[str, str, str], int]:
    """The rows the term (or its roster alone) leaves in the consuming services'
    projections."""
    guardians = count * 3 // 2
    return {("reports", "students", school): count,
            ("reports", "attainment", school): count * 30 if results else 0,
            ("reports", "characteristics", school): count * 40 if results else 0,
            ("linking", "students", school): count,
            ("linking", "guardians", school): guardians,
            ("notifications", "guardians", school): guardians}


def on_stack(count: int, onboarding_only: bool = False, hops: bool = False) -> list[Figure]:
    events = term(count)
    print(f"pipeline: baseline insert of {len(events):,} rows", flush=True)
    baseline = bare_insert(events)
    # What the services can apply, not the pace a school is taken at (issue 27): unbounded.
    stack = Stack(label="pipe", env={"PP_INGEST_SCHOOL_EVENTS_PER_SECOND": "0"})
    try:
        print("pipeline: stack up", flush=True)
        stack.up()
        admin, idle_erasure = erasing_school(stack)
        school, _, term_system = stack.school("Term School")
        stack.wait_applied(timeout=600)
        run = TermRun(stack, school, term_system, admin, count, hops)
        with PeakMemory(stack.workers()) as memory:  # onboarding and term alike
            run.onboard([e for e in events if e["type"] not in RESULTS])
            if onboarding_only:
                return onboarding(run, baseline)
            run.push_term(events)
    finally:
        stack.cleanup()
    return [
        *onboarding(run, baseline),
        Figure(GROUP, f"term through every service ({count:,} students, {len(events):,} "
               "records, via nginx)", len(events) / run.term, "records/s",
               "bare executemany of as many rows, one database", baseline, target=0.20),
        Figure(GROUP, "erasure across every service during the term push",
               run.loaded_erasure, "s", "the same erasure, idle stack", idle_erasure,
               target=5, higher_is_better=False),
        *worker_peaks(memory)]


def onboarding(run: TermRun, baseline: float) -> list[Figure]:
    """The onboarding's rate, and the rows it wrote in every service's tables: the work
    behind the rate, beside the baseline's one row a record."""
    return [
        Figure(GROUP, f"onboarding a school through every service ({run.count:,} students, "
               f"{run.roster:,} records, via nginx)", run.roster / run.onboarding,
               "records/s", "bare executemany of as many rows, one database", baseline,
               target=0.10),  # issue 27: onboarding at 10 % of a bare executemany
        Figure(GROUP, "rows the onboarding wrote in every service's tables (inserted, "
               "updated, deleted) a roster record", run.rows_written / run.roster, "rows"),
        Figure(GROUP, "rows the onboarding wrote a second, every service's tables",
               run.rows_written / run.onboarding, "rows/s",
               "bare executemany of as many rows, one database", baseline)]


def rows_written(stack: Stack) -> int:
    """Rows inserted, updated and deleted so far in the stack's tables, by PostgreSQL's
    counters. A backend reports its counters at the end of a transaction at most once a
    second, and an idle one within 10 s (PostgreSQL 15's statistics): read once the stack
    has been idle that long (not timed)."""
    time.sleep(STATISTICS_SECONDS)
    return sum(int(n) for service in SERVICES for (n,) in stack.rows(
        service, "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)"
        " FROM pg_stat_user_tables"))


def erasing_school(stack: Stack) -> tuple[str, float]:
    """A school with two students to erase (X0, X1), the first erased on the idle stack:
    its admin's token and that erasure's seconds."""
    _, admin, system = stack.school("Erasing School")
    stack.push(system, some_students(2, "X", True) + classes_and_marks(["X0", "X1"]))
    stack.wait_applied(timeout=600)
    return admin, stack.erase(admin, "X0")


class TermRun:
    """The term school's roster, then its whole term, pushed through the stack and timed
    until applied; the second erasing student erased once the term's first batch is in."""

    def __init__(self, stack: Stack, school: str, system: str, admin: str, count: int,
                 hops: bool = False):
        self.stack, self.school, self.system, self.admin = stack, school, system, admin
        self.count = count
        self.roster = 0
        self.hops = hops
        self.onboarding = self.term = self.loaded_erasure = 0.0
        self.rows_written = 0

    def onboard(self, roster: list[dict]) -> None:
        print(f"pipeline: onboarding a {self.count:,}-student school ({len(roster):,} "
              "records)", flush=True)
        self.roster = len(roster)
        written_before = rows_written(self.stack)
        pids = {**self.stack.processes(), **self.stack.database_backends()}
        cpu = cpu_seconds(pids)
        started, since = time.perf_counter(), dt.datetime.now(dt.UTC)
        self.stack.push(self.system, roster, self.stack.client("127.0.0.254"))
        # Checked as closely as the term's tail: onboarding now takes seconds.
        self.onboarding = self.stack.wait_applied(
            projections(self.school, self.count, results=False), every=0.2) - started
        if self.hops:
            print(hop_table(self.stack, since, self.onboarding), flush=True)
            pids.update(self.stack.database_backends())  # and those connected since
            print(cpu_table(cpu, cpu_seconds(pids)), flush=True)
        self.rows_written = rows_written(self.stack) - written_before

    def push_term(self, events: list[dict]) -> None:
        print(f"pipeline: pushing a {self.count:,}-student term ({len(events):,} records)",
              flush=True)
        first_batch, failed = threading.Event(), []

        def push() -> None:
            try:
                self.stack.push(self.system, events, self.stack.client("127.0.0.254"),
                                first_batch.set)
            except BaseException as exc:  # the main thread reports it
                failed.append(exc)
            finally:
                first_batch.set()
        pusher = threading.Thread(target=push)
        started = time.perf_counter()
        pusher.start()
        first_batch.wait()
        self.loaded_erasure = self.stack.erase(self.admin, "X1")
        pusher.join()
        if failed:
            raise failed[0]
        # The push is over: only the consumers' tail is left, checked more closely.
        applied = self.stack.wait_applied(projections(self.school, self.count), every=0.2)
        self.term = applied - started


def worker_peaks(memory: PeakMemory) -> list[Figure]:
    """Each service's peak worker memory (the largest of its worker processes)."""
    peaks: dict[str, float] = {}
    for name, mb in memory.peak.items():
        service = name.split("-worker")[0]
        peaks[service] = max(peaks.get(service, 0.0), mb)
    return [Figure(GROUP, f"{service} worker peak RSS (onboarding and term)", mb, "MB",
                   target=WORKER_MB, higher_is_better=False)
            for service, mb in peaks.items()]


def embedded(count: int) -> Figure:
    """`make run`'s peak resident memory (with any children) while a term goes through."""
    events = term(count)
    print(f"pipeline: make run, a {count:,}-student term", flush=True)
    world = Embedded()
    try:
        world.up()
        school, _, system = world.school("Embedded School")
        with PeakMemory({"make run": world.process.pid}, tree=True) as memory:
            world.push(system, events)
            world.wait_applied(projections(school, count))
    finally:
        world.cleanup()
    return Figure(GROUP, f"make run (embedded) peak RSS, a {count:,}-student term",
                  memory.peak["make run"], "MB", target=EMBEDDED_MB, higher_is_better=False)


def figures(quick: bool = False, students: int | None = None,
            embedded_students: int = 200, onboarding_only: bool = False,
            hops: bool = False) -> list[Figure]:
    out = on_stack(students or (200 if quick else 2000), onboarding_only, hops)
    if embedded_students and not onboarding_only:
        out.append(embedded(embedded_students))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--embedded-students", type=int, default=200,
                        help="the term pushed through make run (0: skip it)")
    parser.add_argument("--onboarding-only", action="store_true",
                        help="stop after onboarding: its figure alone (for iterating on it)")
    parser.add_argument("--hops", action="store_true",
                        help="print onboarding's hop table (bench/hops.py) once it is applied")
    args = parser.parse_args()
    print(table(figures(students=args.students, embedded_students=args.embedded_students,
                        onboarding_only=args.onboarding_only, hops=args.hops)))


if __name__ == "__main__":
    main()
