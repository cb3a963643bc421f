"""The cyclic garbage collector kept to the objects a process makes while it works
(issue 27: onboarding CPU).

A service's process holds some 150,000 objects once started (modules, SQLAlchemy's
tables and compiled statements, marshmallow's schemas, the contracts), all alive for its
whole life. Python's collector scans every one of them at each full collection, and a
roster batch allocates enough to start one every few hundred events: measured in
process, collection took about 30 % of identity's CPU applying a 2,000-student roster
(0.13 s of 0.45 s a run) and as much of ingest's taking the two pushes. `settle()`,
called once a process has started (every object of its lifetime made), collects once
and moves what is left to the permanent generation (`gc.freeze`), which collections do
not scan; and it lets the youngest generation grow to 10,000 objects before a
collection (700 by default: identity collected it every 20 events or so).
Cycles made later are collected as before. Processes call it at their entry points
alone (a worker, a gunicorn worker, `make run`), never a test's runtime, whose objects
would then never be freed.
"""
from __future__ import annotations

import gc

YOUNGEST = 10_000  # objects allocated (less freed) before the youngest generation is collected


def settle() -> int:
    """Collect once, freeze what survives, and let the youngest generation grow; returns
    how many objects were frozen."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNGEST, middle, oldest)
    return gc.get_freeze_count()
