"""A web process as production runs it (gunicorn with deploy/gunicorn.conf.py, two
workers) serves /metrics on PP_METRICS_PORT, the sum of its workers' counts, and not on
the app's port (issue 21)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support import free_port, terminate, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]


def healthz_count(metrics_port: int) -> float:
    text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if re.match(r"pp_http_request_duration_seconds_count\{", line)
               and 'service="identity"' in line and 'route="/healthz"' in line)


def started(env: dict, tmp_path: Path, attempts: int = 3):
    """gunicorn as deployed, up with its metrics port: (process, app port, metrics port,
    log path). Two free ports are chosen before gunicorn binds them; another process's
    outgoing connection may take one meanwhile (CI builds images beside the tests), so a
    start that lost that race is made again on two new ports."""
    for attempt in range(1, attempts + 1):
        app_port = free_port()
        metrics_port = wait_for(lambda: (lambda port: port if port != app_port else None)(
            free_port()), message="a second free port")
        # Its log to a file, not a pipe nobody reads until the end: a full pipe would
        # stall it.
        log_path = tmp_path / f"gunicorn-{attempt}.log"
        with log_path.open("w") as log:
            web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c",
                                    str(ROOT / "deploy" / "gunicorn.conf.py"),
                                    "services.identity.wsgi:app"], cwd=ROOT,
                                   env={**env, "PP_BIND": f"127.0.0.1:{app_port}",
                                        "PP_METRICS_PORT": str(metrics_port)},
                                   stdout=subprocess.DEVNULL, stderr=log, text=True)

        def both_up() -> bool:
            if web.poll() is not None:
                return True  # it exited: said below
            try:
                return (requests.get(f"http://127.0.0.1:{app_port}/healthz",
                                     timeout=5).status_code == 200
                        and requests.get(f"http://127.0.0.1:{metrics_port}/metrics",
                                         timeout=5).status_code == 200)
            except requests.ConnectionError:
                return False
        wait_for(both_up, timeout=90, interval=0.3, message="gunicorn and its metrics port")
        if web.poll() is None:
            return web, app_port, metrics_port, log_path
        said = log_path.read_text()
        lost_a_port = "Address already in use" in said or "Connection in use" in said
        assert lost_a_port and attempt < attempts, said  # say why it exited
    raise AssertionError("unreachable")


def test_the_web_process_serves_metrics_on_a_port_of_its_own(amqp_url, new_database,
                                                               tmp_path):
    env = {**os.environ, "PP_BROKER_URL": amqp_url, "PP_DATA_DIR": str(tmp_path),
           "PP_IDENTITY_DATABASE_URL": new_database("identity"), "PP_WEB_WORKERS": "2"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    web, app_port, metrics_port, log_path = started(env, tmp_path)
    try:
        assert requests.get(f"http://127.0.0.1:{app_port}/metrics",
                            timeout=5).status_code == 404
        # Each worker's first requests (gunicorn hands connections to whichever worker
        # accepts): the metrics port shows their sum, whichever worker served them.
        wait_for(lambda: healthz_count(metrics_port) > 0, timeout=30,
                 message="the first requests counted")
        before = healthz_count(metrics_port)
        for _ in range(30):
            assert requests.get(f"http://127.0.0.1:{app_port}/healthz",
                                timeout=5).status_code == 200
        assert healthz_count(metrics_port) == before + 30
        text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert 'route="/metrics"' not in text
    finally:
        terminate([web])
        web.wait(timeout=30)
    errors = log_path.read_text()
    assert "Traceback" not in errors, errors
