"""Every service as production runs it: gunicorn web + worker process, on real RabbitMQ
and PostgreSQL (a database per service)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from shared.config import SERVICES
from tests.support import free_port, queue_counts, terminate, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]


def test_each_service_runs_as_gunicorn_web_and_worker(amqp_url, new_database, tmp_path,
                                                      broker_settings):
    env = {**os.environ, "PP_BROKER_URL": amqp_url, "PP_DATA_DIR": str(tmp_path),
           "PP_EXCHANGE": broker_settings.exchange,
           "PP_QUEUE_PREFIX": broker_settings.queue_prefix}
    for service in SERVICES:
        env[f"PP_{service.upper()}_DATABASE_URL"] = new_database(service)
    ports = {service: free_port() for service in SERVICES}
    procs = []
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    try:
        for service in SERVICES:
            procs.append(subprocess.Popen(
                [gunicorn, "-w", "1", "-b", f"127.0.0.1:{ports[service]}",
                 f"services.{service}.wsgi:app"], cwd=ROOT, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            procs.append(subprocess.Popen([sys.executable, "-m", f"services.{service}.worker"],
                                          cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))

        def ready(port):
            try:
                response = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
                return response.status_code == 200
            except requests.RequestException:  # still starting
                return False
        for service, port in ports.items():
            wait_for(lambda: ready(port), timeout=90, message=f"{service} ready")

        for service in SERVICES:
            queue = f"{broker_settings.queue_prefix}{service}.rights"
            wait_for(lambda: queue_counts(amqp_url, queue)[1] >= 1, timeout=90,
                     message=f"{service} worker consuming")
    finally:
        terminate(procs)
    assert all(proc.returncode is not None for proc in procs)
