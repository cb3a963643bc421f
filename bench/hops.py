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

from bench.stack_world import World
from shared.config import SERVICES

# sort key, service, what, event type, rows, rounds, first, last
Hop = tuple[float, str, str, str, int, int, float, float]


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
        for kind, n, rounds, first, last in _since(world, service, (
                "SELECT event_type, count(*), count(DISTINCT created_at), min(created_at), "
                "max(created_at) FROM outbox "
                "WHERE created_at >= :start GROUP BY event_type"), start):
            out.append((_seconds(start, first), service, "outbox written", kind, n, rounds,
                        _seconds(start, first), _seconds(start, last)))
        for kind, n, rounds, first, last in _since(world, service, (
                "SELECT event_type, count(*), count(DISTINCT sent_at), min(sent_at), max(sent_at) "
                "FROM outbox "
                "WHERE created_at >= :start AND sent_at IS NOT NULL GROUP BY event_type"),
                start):
            out.append((_seconds(start, first), service, "outbox sent", kind, n, rounds,
                        _seconds(start, first), _seconds(start, last)))
        for kind, n, rounds, first, last in _since(world, service, (
                "SELECT event_type, count(*), count(DISTINCT applied_at), min(applied_at), "
                "max(applied_at) FROM inbox "
                "WHERE applied_at >= :start GROUP BY event_type"), start):
            out.append((_seconds(start, first), service, "inbox applied", kind, n, rounds,
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


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    return children


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User and system CPU seconds of each named process with its descendants."""
    children, tick = _children(), os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in pids.items():
        total, todo = 0, [pid]
        while todo:
            current = todo.pop()
            todo += children.get(current, [])
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
