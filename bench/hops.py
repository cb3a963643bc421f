"""Where a push's time goes, hop by hop, on a running stack (bench.pipeline --hops).

From each service's own database, for what happened since a moment (the push's start):
ingest's batches (received), and per service and event type the outbox rows (written:
created_at, sent: sent_at) and inbox rows (applied: applied_at, when the consumer's batch
began), each as first and last, in seconds after that moment, with the rounds they took
(distinct moments: transactions writing, relay rounds sending, consumer batches applying).
Rows read by the order of their first time: the hop chain (ingest -> relay -> identity ->
relay -> notifications…) reads from top to bottom. Beside it, the CPU seconds each of
the stack's processes (with its children) spent meanwhile: on a machine others share, wall
time says little about a hop's own cost.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from bench.stack_world import World, process_children, process_tree
from shared.config import SERVICES

# sort key, service, what, event type, rows, rounds, first, last
Hop = tuple[float, str, str, str, int, int, float, float]
# Each service's hops: what, the table, the moment a row took it, which rows (since :start).
HOP_ROWS = (("outbox written", "outbox", "created_at", "created_at >= :start"),
            ("outbox sent", "outbox", "sent_at", "created_at >= :start AND sent_at IS NOT NULL"),
            ("inbox applied", "inbox", "applied_at", "applied_at >= :start"))


def _since(world: World, service: str, query: str, start: dt.datetime) -> list[tuple]:
    return world.rows(service, query.replace(":start", f"'{start.isoformat()}'"))


def _seconds(start: dt.datetime, moment: dt.datetime | None) -> float:
    return (moment - start).total_seconds() if moment is not None else float("nan")


def hops(world: World, start: dt.datetime) -> list[Hop]:
    """Every hop since `start`, in the order of its first moment."""
    out: list[Hop] = []
    for n, first, last in _since(world, "ingest", (
            "SELECT count(*), min(received_at), max(received_at) FROM batches "
            "WHERE received_at >= :start"), start):
        if n:
            out.append((_seconds(start, first), "ingest", "batch received", "-", n, n,
                        _seconds(start, first), _seconds(start, last)))
    for service in SERVICES:
        for what, table, moment, where in HOP_ROWS:
            for kind, n, rounds, first, last in _since(world, service, (
                    f"SELECT event_type, count(*), count(DISTINCT {moment}), "
                    f"min({moment}), max({moment}) FROM {table} WHERE {where} "
                    "GROUP BY event_type"), start):
                out.append((_seconds(start, first), service, what, kind, n, rounds,
                            _seconds(start, first), _seconds(start, last)))
    return sorted(out)


def hop_table(world: World, start: dt.datetime, done: float | None = None) -> str:
    """The hops as a table; `done`: seconds after `start` the bench saw everything applied."""
    rows = [[service, what, kind, f"{n:,}", f"{rounds:,}", f"{first:.3f}", f"{last:.3f}"]
            for _, service, what, kind, n, rounds, first, last in hops(world, start)]
    head = ["service", "hop", "event type", "rows", "rounds", "first s", "last s"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    text = "\n".join("  ".join(cell.ljust(w) if i < 3 else cell.rjust(w)
                                for i, (cell, w) in enumerate(zip(row, widths)))
                      for row in [head, *rows])
    return text + (f"\nall applied (as the bench saw it): {done:.3f} s" if done else "")


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User and system CPU seconds of each named process with its descendants."""
    children, tick = process_children(), os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in pids.items():
        total = 0
        for current in process_tree(pid, children):
            try:
                fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        out[name] = total / tick
    return out


def cpu_table(before: dict[str, float], after: dict[str, float]) -> str:
    """The CPU seconds each process spent between two cpu_seconds() readings, the
    database server's processes summed by database."""
    spent: dict[str, float] = {}
    for name, seconds in after.items():
        group = " ".join(name.split()[:2]) if name.startswith("postgres ") else name
        spent[group] = spent.get(group, 0.0) + seconds - before.get(name, 0.0)
    return "\n".join(f"{name:<28}{seconds:7.2f} s CPU" for name, seconds
                     in sorted(spent.items(), key=lambda kv: -kv[1]) if seconds >= 0.01)
