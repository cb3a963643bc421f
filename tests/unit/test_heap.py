"""A process's long-lived objects are frozen once it has started (shared/heap.py, issue
27): collections scan only what it makes while it works, and every entry point that runs
a service settles its heap. Each probe runs in a process of its own (a frozen test process
would never free its objects)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SETTLE = """
import gc, weakref
from shared import heap
class Node: pass
frozen = heap.settle()
# A cycle made after settling is still collected.
a, b = Node(), Node(); a.other, b.other = b, a
gone = weakref.ref(a); del a, b
gc.collect()
print(frozen, gc.get_threshold()[0], gone() is None)
"""

GUNICORN_WORKER = """
import gc, runpy
config = runpy.run_path("deploy/gunicorn.conf.py")
before = gc.get_freeze_count()
config["post_worker_init"](None)
print(before, gc.get_freeze_count())
"""


def probe(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    return done.stdout.split()


def test_settling_freezes_whats_alive_and_still_collects_later_cycles():
    frozen, youngest, collected = probe(SETTLE)
    assert int(frozen) > 1000  # the modules imported, at least
    assert int(youngest) == 10_000
    assert collected == "True"


def test_each_gunicorn_worker_settles_once_the_app_is_built():
    before, after = (int(n) for n in probe(GUNICORN_WORKER))
    assert before == 0 and after > 1000


def test_the_worker_and_make_run_settle_once_started():
    worker = (ROOT / "shared" / "worker.py").read_text().split("def run_worker(", 1)[1]
    assert worker.index("runtime.start()") < worker.index("heap.settle()") \
        < worker.index("run_threads(")
    embedded = (ROOT / "shared" / "embedded.py").read_text().split("def main(", 1)[1]
    assert embedded.index("system.start()") < embedded.index("heap.settle()") \
        < embedded.index("serve(gateway")
