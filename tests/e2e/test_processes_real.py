"""Every service as production runs it: gunicorn web + worker process, on real RabbitMQ
and PostgreSQL (a database per service). A signed-out token is refused by every one of
them within seconds: identity's worker publishes TokensRevoked, each service's worker
applies it to its own database, and each web process reads it from there."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from shared.config import SERVICES
from tests import second_factor
from tests.support import free_port, queue_counts, terminate, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]
OPERATOR = ("ops@example.org", "operator-secret-1")
# An authenticated endpoint of each service (an operator gets 200 or, where the endpoint
# is not theirs, 404: anything but 401 means the token was accepted).
ENDPOINTS = {"identity": "/api/v1/me", "ingest": "/api/v1/school-data/batches",
             "linking": "/api/v1/links", "reports": "/api/v1/reports",
             "notifications": "/api/v1/notification-preferences",
             "dsar": "/api/v1/offboardings"}


def signed_out_tokens_are_refused_by_every_process(ports) -> None:
    def sign_in():
        response = requests.post(f"http://127.0.0.1:{ports['identity']}/api/v1/auth/token",
                                 json={"grant_type": "password", "email": OPERATOR[0],
                                       "password": OPERATOR[1]}, timeout=30)
        assert response.status_code == 200, response.text
        return second_factor.complete(second_factor.requests_post(
            f"http://127.0.0.1:{ports['identity']}"), response.json())

    def statuses(token):
        return {service: requests.get(f"http://127.0.0.1:{ports[service]}{path}",
                                      headers={"Authorization": f"Bearer {token}"},
                                      timeout=30).status_code
                for service, path in ENDPOINTS.items()}
    leaving, staying = sign_in(), sign_in()
    before = statuses(leaving["access_token"])
    assert 401 not in before.values(), before
    assert requests.post(f"http://127.0.0.1:{ports['identity']}/api/v1/auth/logout",
                         json={"refresh_token": leaving["refresh_token"]},
                         timeout=30).status_code == 204
    wait_for(lambda: set(statuses(leaving["access_token"]).values()) == {401}, timeout=15,
             interval=0.2, message="every service refusing the signed-out token")
    after = statuses(staying["access_token"])  # the other sign-in is not signed out
    assert 401 not in after.values(), after


def niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_each_service_runs_as_gunicorn_web_and_worker(amqp_url, new_database, tmp_path,
                                                      broker_settings):
    env = {**os.environ, "PP_BROKER_URL": amqp_url, "PP_DATA_DIR": str(tmp_path),
           "PP_EXCHANGE": broker_settings.exchange,
           "PP_QUEUE_PREFIX": broker_settings.queue_prefix,
           "PP_BOOTSTRAP_OPERATOR_EMAIL": OPERATOR[0],
           "PP_BOOTSTRAP_OPERATOR_PASSWORD": OPERATOR[1]}
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
        signed_out_tokens_are_refused_by_every_process(ports)
        # Bulk work yields to requests (issue 27): each worker 10 nicer than its web process.
        assert [niceness(p.pid) for p in procs[1::2]] == [niceness(p.pid) + 10
                                                         for p in procs[0::2]]
    finally:
        terminate(procs)
    assert all(proc.returncode is not None for proc in procs)
