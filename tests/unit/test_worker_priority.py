"""Interactive requests before bulk work (issue 27): a worker process lowers its CPU
priority before it starts a thread, so its consumers and relays run nicer than the web
processes; Kubernetes gives worker pods a smaller CPU share than web pods."""
import subprocess
import sys
from pathlib import Path

import yaml

from shared.config import SERVICES, Settings

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import os, threading
from shared.config import Settings
from shared.worker import lower_priority
before = os.getpriority(os.PRIO_PROCESS, 0)
now = lower_priority(Settings.from_env({"PP_WORKER_NICE": "%s"}))
seen = []
thread = threading.Thread(target=lambda: seen.append(
    os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
thread.start(); thread.join()
print(before, now, os.getpriority(os.PRIO_PROCESS, 0), seen[0])
"""


def niceness_after(setting: str) -> list[int]:
    done = subprocess.run([sys.executable, "-c", PROBE % setting], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    return [int(n) for n in done.stdout.split()]


def test_a_worker_lowers_its_priority_and_its_threads_inherit_it():
    before, now, process, thread = niceness_after("7")
    assert now == process == thread == min(before + 7, 19)


def test_zero_leaves_the_priority_alone():
    before, now, process, thread = niceness_after("0")
    assert before == now == process == thread


def test_workers_are_ten_nicer_by_default():
    assert Settings.from_env({}).worker_nice == 10


def test_the_worker_entry_point_lowers_priority_before_starting_threads():
    source = (ROOT / "shared" / "worker.py").read_text()
    body = source.split("def run_worker(", 1)[1]
    assert body.index("lower_priority(settings)") < body.index("runtime.start()")


def millicores(value: str) -> float:
    return float(value[:-1]) if value.endswith("m") else float(value) * 1000


def test_kubernetes_worker_pods_request_less_cpu_than_web_pods():
    for service in SERVICES:
        docs = yaml.safe_load_all((ROOT / "deploy/k8s/base/services" / f"{service}.yaml")
                                  .read_text())
        cpu = {d["metadata"]["name"]: millicores(
            d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"])
            for d in docs if d and d.get("kind") == "Deployment"}
        assert cpu[f"{service}-worker"] * 4 <= cpu[f"{service}-web"], cpu
