"""One service's worker as one process and as two, on the local stack: the scaling
assumption of docs/capacity.md (a worker's throughput adds up with its processes) checked,
not assumed.

    .venv/bin/python -m bench.scaling --students 2000      (make bench runs it too)

The service is reports, whose worker takes the bulk of school data (the one to scale at
term end). On deploy/stack.py's stack (its own databases, exchange and queues, removed
after; one web process a service, to leave the cores to the workers), for N = 1, then 2:
reports' worker processes are stopped, a new school's term (`--students`, bench.ingest's
term) is pushed through nginx, and every other service applies its part, so the term's
events for reports wait in its queue; then N worker processes are started on that backlog
and reports is timed until it has applied every event published for it (its inbox) and its
projections hold every row: the term's records per second, from starting the processes to
the last event reports' inbox records (a process's start-up, about a second, included in
both). Each N has its own school with an equal term. And each service's database growth
for the second school's term (roster and results), per student, after a VACUUM: the
figure docs/capacity.md sizes databases from (the bench keeps outbox rows a day, against
an hour in production, so event producers' figures are high).

On a machine shared with other work, a rate follows whatever else runs in the same
minute. So the rounds alternate (1, 2, then 2, 1, …: a drift in the machine's load falls
on both alike), each figure is the median of its rounds, and beside the rates the bench
reports the workers' CPU time (user + system, from /proc) per event and per record: what
a record costs a core, whatever the machine does meanwhile; docs/capacity.md sizes reports'
workers from it.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.common import DATABASE, Figure, table
from bench.ingest import term
from bench.pipeline import projections
from bench.stack_world import ROOT, Stack, wait
from shared.config import SERVICES

GROUP = "scaling"
SERVICE = "reports"


def stop_workers(stack: Stack) -> None:
    for name, pid in stack.workers().items():
        if not name.startswith(f"{SERVICE}-worker"):
            continue
        try:
            os.killpg(pid, signal.SIGTERM)  # drains the batch in hand, then exits
        except ProcessLookupError:
            pass
        wait(f"{name} to stop", lambda pid=pid: not _alive(pid), timeout=60, every=0.2)
        (stack.dir / "pids" / f"{name}.pid").unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # ours when the stack was started by this process
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def add_worker(stack: Stack) -> None:
    done = subprocess.run([sys.executable, "deploy/stack.py", "add-worker", SERVICE],
                          cwd=ROOT, env=stack.env, capture_output=True, text=True,
                          timeout=120)
    if done.returncode:
        raise SystemExit(f"add-worker failed: {done.stderr[-2000:]}")


def only_reports_left(stack: Stack) -> bool:
    """Every outbox sent and every other service's inbox complete: what is left is the
    backlog in reports' queue."""
    return set(stack.backlog()) <= {f"{SERVICE} inbox", "queues"}


def cpu_seconds_of_stat(text: str) -> float:
    """User + system CPU seconds of a process (and of its children it waited for), from the
    text of its /proc/<pid>/stat."""
    fields = text.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])  # stat fields 14 to 17
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def workers_cpu_seconds(stack: Stack) -> float:
    """CPU seconds used so far by the running reports worker processes."""
    return sum(cpu_seconds_of_stat(Path(f"/proc/{pid}/stat").read_text())
               for name, pid in stack.workers().items()
               if name.startswith(f"{SERVICE}-worker") and _alive(pid))


def alternating(rounds: int) -> list[int]:
    """The process counts to run, round after round: 1, 2, then 2, 1, and so on."""
    return [n for r in range(rounds) for n in ((1, 2) if r % 2 == 0 else (2, 1))]


@dataclass
class Drain:
    processes: int
    records: int
    events: int  # events reports applied (its inbox)
    seconds: float  # from starting the processes to the last event applied
    cpu_seconds: float  # the processes' CPU time over the same span

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def ms_per_event(self) -> float:
        return 1000 * self.cpu_seconds / self.events

    @property
    def ms_per_record(self) -> float:
        return 1000 * self.cpu_seconds / self.records


def median_of(drains: list[Drain], processes: int, figure: str) -> float:
    return statistics.median(getattr(d, figure) for d in drains if d.processes == processes)


def drain_rate(stack: Stack, processes: int, count: int, label: str = "") -> Drain:
    """A new school's term left waiting for reports, then applied by `processes` workers:
    how many records and events, how long from starting the processes to the last event
    applied, and the CPU time the processes used."""
    stop_workers(stack)
    school, _, system = stack.school(f"Scaling School {processes}{label}")
    events = term(count)
    print(f"scaling: {len(events):,} records pushed with reports stopped", flush=True)
    stack.push(system, events)
    wait("every service but reports to apply the term", lambda: only_reports_left(stack),
         timeout=1800, every=1.0)
    (since,) = stack.rows(SERVICE, "SELECT now()")[0]
    for _ in range(processes):
        add_worker(stack)
    print(f"scaling: {processes} reports worker(s) started on the backlog", flush=True)
    stack.wait_applied(projections(school, count), every=0.5)
    cpu = workers_cpu_seconds(stack)  # before they stop: their whole life is this backlog
    last, total = stack.rows(SERVICE, (
        "SELECT max(applied_at), count(*) FROM inbox "
        f"WHERE applied_at >= '{since.isoformat()}'"))[0]
    drain = Drain(processes, len(events), total, (last - since).total_seconds(), cpu)
    print(f"scaling: {processes} process(es): {drain.rate:,.0f} records/s, "
          f"{drain.ms_per_event:.2f} ms CPU an event", flush=True)
    return drain


def sizes(stack: Stack) -> dict[str, int]:
    """Each service's database size on disk, after a VACUUM (dead rows not counted)."""
    out = {}
    for service in SERVICES:
        base = DATABASE.rsplit("/", 1)[0]
        with psycopg.connect(f"{base}/{stack.prefix}{service}", autocommit=True) as conn:
            conn.execute("VACUUM")
            out[service] = conn.execute(
                "SELECT pg_database_size(current_database())").fetchone()[0]
    return out


def run_rounds(count: int, rounds: int) -> tuple[list[Drain], dict[str, float]]:
    """Every round's drain, in alternating order, and each database's growth a student over
    the second drain's term."""
    stack = Stack(web_workers=1, label="scale",  # the push is not timed: unbounded
                  env={"PP_INGEST_SCHOOL_EVENTS_PER_SECOND": "0"})
    drains: list[Drain] = []
    try:
        print("scaling: stack up", flush=True)
        stack.up()
        for index, processes in enumerate(alternating(rounds)):
            before = sizes(stack) if index == 1 else None
            drains.append(drain_rate(stack, processes, count, label=f" #{index + 1}"))
            if before is not None:
                grown = {s: (size - before[s]) / count for s, size in sizes(stack).items()}
    finally:
        stack.cleanup()
    return drains, grown


def figures(quick: bool = False, students: int | None = None,
            rounds: int | None = None) -> list[Figure]:
    count = students or (300 if quick else 2000)
    rounds = rounds or (1 if quick else 2)
    drains, grown = run_rounds(count, rounds)
    events = drains[0].events
    what = (f"a {count:,}-student term's backlog ({len(term(count)):,} records, "
            f"{events:,} events), median of {rounds}")
    one, two = (median_of(drains, n, "rate") for n in (1, 2))
    cpu = {n: median_of(drains, n, "ms_per_event") for n in (1, 2)}
    return [
        Figure(GROUP, f"reports worker, 1 process: {what}", one, "records/s"),
        Figure(GROUP, f"reports worker, 2 processes: {what}", two, "records/s",
               "1 process", one),
        Figure(GROUP, "reports worker CPU time an event, 1 process", cpu[1], "ms"),
        Figure(GROUP, "reports worker CPU time an event, 2 processes", cpu[2], "ms",
               "1 process", cpu[1], higher_is_better=False),
        Figure(GROUP, "reports worker CPU time a record, 1 process",
               median_of(drains, 1, "ms_per_record"), "ms"),
        *(Figure(GROUP, f"round {i + 1}: {d.processes} process(es)", d.rate, "records/s")
          for i, d in enumerate(drains)),
        *(Figure(GROUP, f"{service} database growth a student, one school's term pushed "
                 "(VACUUMed; outboxes kept a day)", bytes_ / 1024, "KiB")
          for service, bytes_ in grown.items()),
        Figure(GROUP, "load average (1 min) when the run ended", os.getloadavg()[0], ""),
        Figure(GROUP, "cores on this machine (shared by the stack, PostgreSQL, RabbitMQ)",
               float(os.cpu_count() or 0), "cores"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of (1, 2) processes, alternating in order")
    args = parser.parse_args()
    started = time.perf_counter()
    print(table(figures(students=args.students, rounds=args.rounds)))
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
