"""bench.reports' CPU per request: each kind's CPU is summed over its own rounds, a backend
that went away between two readings counts nothing (never a negative), and the client's
CPU is the work's alone, not the readings of /proc and the database around it."""
import time

from bench.reports import CpuMeter


class ScriptedMeter(CpuMeter):
    """The server's and the database's readings from a script; the client's are real."""

    def __init__(self, readings: list[dict[str, float]]):
        self.readings = iter(readings)
        self.spent = {}

    def _now(self) -> dict[str, float]:
        reading = next(self.readings)
        spin_until = time.process_time() + 0.05  # a costly reading: must not count
        while time.process_time() < spin_until:
            pass
        return dict(reading)


def test_each_kind_sums_its_own_rounds():
    meter = ScriptedMeter([{"server": 1.0, "database": 0.5}, {"server": 1.5, "database": 0.7},
                           {"server": 1.5, "database": 0.7}, {"server": 1.6, "database": 0.7},
                           {"server": 1.6, "database": 0.7}, {"server": 2.0, "database": 0.2}])
    assert meter.measure("report", lambda: "answer") == "answer"
    meter.measure("healthz", lambda: None)
    meter.measure("report", lambda: None)  # its backend went: the database counts 0
    assert round(meter.spent["report"]["server"], 6) == 0.9
    assert round(meter.spent["report"]["database"], 6) == 0.2
    assert round(meter.spent["healthz"]["server"], 6) == 0.1
    assert meter.spent["healthz"]["database"] == 0.0


def test_the_client_counts_the_work_alone():
    meter = ScriptedMeter([{"server": 0.0, "database": 0.0}] * 2)
    meter.measure("report", lambda: None)
    assert meter.spent["report"]["client"] < 0.02  # the readings spun 0.1 s in all
