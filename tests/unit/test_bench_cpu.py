"""bench.scaling's rounds and CPU figures: the process counts alternate (a drift in the
machine's load falls on one and two processes alike), a process's CPU time is read from
/proc the way the kernel writes it, and each figure is the median of its rounds."""
import os

from bench.scaling import Drain, alternating, cpu_seconds_of_stat, median_of


def test_rounds_alternate_one_and_two_processes():
    assert alternating(1) == [1, 2]
    assert alternating(2) == [1, 2, 2, 1]
    assert alternating(3) == [1, 2, 2, 1, 1, 2]


def test_cpu_seconds_are_user_and_system_time_with_waited_children():
    tick = os.sysconf("SC_CLK_TCK")
    # a command name with spaces and parentheses: fields are counted after its last ')'
    stat = (f"4242 (python -m (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
            f"{3 * tick} {tick} {tick // 2} {tick // 2} 20 0 9 0 5000 0 0")
    assert cpu_seconds_of_stat(stat) == 5.0


def test_cpu_seconds_of_this_process_grow_as_it_works():
    def mine() -> float:
        with open(f"/proc/{os.getpid()}/stat") as f:
            return cpu_seconds_of_stat(f.read())
    before = mine()
    while mine() - before < 0.05:  # spin until the kernel has counted some ticks
        sum(range(10_000))
    assert mine() > before


def test_per_event_and_per_record_cpu_and_the_median_of_rounds():
    drains = [Drain(1, 10_000, 500, 4.0, 2.0), Drain(2, 10_000, 500, 2.5, 2.2),
              Drain(2, 10_000, 500, 3.5, 2.4), Drain(1, 10_000, 500, 5.0, 2.1)]
    assert drains[0].rate == 2_500 and drains[0].ms_per_event == 4.0
    assert drains[0].ms_per_record == 0.2
    assert median_of(drains, 1, "rate") == 2_250
    assert median_of(drains, 2, "rate") == (4_000 + 10_000 / 3.5) / 2
    assert round(median_of(drains, 2, "ms_per_event"), 6) == 4.6
