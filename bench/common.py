"""What every benchmark needs: a PostgreSQL database of its own (dropped afterwards), a free
port, and the one table `make bench` prints: each figure beside its baseline measured in
the same run.
"""
from __future__ import annotations

import os
import socket
import statistics
import uuid
from dataclasses import dataclass
from typing import Callable, Iterable

import sqlalchemy as sa

DATABASE = os.environ.get("PP_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP = os.environ.get("PP_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick), for a server a bench starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def temporary_database(label: str) -> tuple[str, Callable[[], None]]:
    """A new database on PP_TEST_DATABASE_URL's server: its SQLAlchemy URL, and the
    function that drops it (call it in a `finally`)."""
    admin_url = "postgresql+psycopg://" + DATABASE.split("://", 1)[1]
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"pp_bench_{label}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


@dataclass(frozen=True)
class Figure:
    """One row of the table: a measured figure beside its baseline from the same run.

    `higher_is_better` says which way the ratio should go; `target` is the ratio the issue
    asks for (None: reported, no target), e.g. 6.0 with higher_is_better means "≥ 6×",
    2.0 without means "≤ 2×". A baseline of None is an absolute target (memory in MB)."""
    group: str
    name: str
    value: float
    unit: str
    baseline_name: str = ""
    baseline: float | None = None
    target: float | None = None
    higher_is_better: bool = True

    @property
    def ratio(self) -> float | None:
        if self.baseline is None:
            return None
        return self.value / self.baseline if self.baseline else float("inf")

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        measured = self.ratio if self.baseline is not None else self.value
        return measured >= self.target if self.higher_is_better else measured <= self.target

    def target_text(self) -> str:
        if self.target is None:
            return ""
        sign = "≥" if self.higher_is_better else "≤"
        if self.baseline is None:
            return f"{sign} {self.target:g} {self.unit}"
        return f"{sign} {self.target:g}×"


def _number(value: float) -> str:
    whole = abs(value) >= 100 or float(value).is_integer()  # counts: "0 errors"
    return f"{value:,.0f}" if whole else f"{value:,.2f}"


def _ratio(ratio: float | None) -> str:
    if ratio is None:
        return ""
    return f"{ratio:.2f}×" if ratio >= 0.1 else f"{ratio:.2g}×"  # 0.0035×, not 0.00×


def table(figures: Iterable[Figure], markdown: bool = False) -> str:
    """The figures as one table (plain text, or Markdown for BENCHMARKS.md)."""
    head = ("benchmark", "figure", "value", "baseline (same run)", "baseline value",
            "ratio", "target", "met")
    rows = []
    for f in figures:
        met = {True: "yes", False: "NO", None: ""}[f.met]
        rows.append((f.group, f.name, f"{_number(f.value)} {f.unit}", f.baseline_name,
                     "" if f.baseline is None else f"{_number(f.baseline)} {f.unit}",
                     _ratio(f.ratio), f.target_text(), met))
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths)),
                      *(fmt.format(*row) for row in rows)])


def percentile_ms(values: list[float], p: int) -> float:
    """The p-th percentile of latencies in seconds, in milliseconds."""
    return statistics.quantiles(values, n=100)[p - 1] * 1000
