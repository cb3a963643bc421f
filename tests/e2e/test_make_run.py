"""`make run` as a user runs it: the gateway answers ready, Ctrl-C stops it cleanly, and a
second start reuses the data."""
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests

from shared.config import SERVICES
from tests import second_factor
from tests.support import free_port, wait_for

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def start(cmd, data_dir, port):
    env = {**os.environ, "PP_DATA_DIR": str(data_dir), "PP_GATEWAY_PORT": str(port),
           "PP_BOOTSTRAP_OPERATOR_EMAIL": "ops@example.org",
           "PP_BOOTSTRAP_OPERATOR_PASSWORD": "operator-secret-1"}
    env.pop("PP_BROKER_URL", None)
    return spawn(cmd, env)


def spawn(cmd, env) -> subprocess.Popen:
    """The server in its own process group, its output into a file: a pipe nobody reads
    while it runs fills at 64 KiB of logs and then blocks the server mid-request."""
    output = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    proc.output_file = output
    return proc


def output_of(proc) -> str:
    proc.output_file.seek(0)
    return proc.output_file.read()


def ready(port):
    try:
        response = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
    except requests.ConnectionError:
        return None
    return response if response.status_code == 200 else None


def stop_with_ctrl_c(proc) -> str:
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
    proc.wait(timeout=60)
    return output_of(proc)


def test_make_run_is_ready_stops_on_ctrl_c_and_restarts_on_its_data(tmp_path):
    port = free_port()
    proc = start(["make", "run"], tmp_path, port)
    try:
        response = wait_for(lambda: ready(port), timeout=120, message="gateway ready")
        body = response.json()
        assert body["services"] == {name: "ready" for name in SERVICES}
        kid = requests.get(f"http://127.0.0.1:{port}/.well-known/jwks.json",
                           timeout=5).json()["keys"][0]["kid"]
        missing = requests.get(f"http://127.0.0.1:{port}/api/v1/nowhere", timeout=5)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        # The bootstrap operator signs in through the gateway and creates a school.
        answer = requests.post(f"http://127.0.0.1:{port}/api/v1/auth/token", timeout=10, json={
            "grant_type": "password", "email": "ops@example.org",
            "password": "operator-secret-1"}).json()
        token = second_factor.complete(second_factor.requests_post(
            f"http://127.0.0.1:{port}"), answer)["access_token"]
        created = requests.post(f"http://127.0.0.1:{port}/api/v1/schools", timeout=10,
                                json={"name": "Embedded School"},
                                headers={"Authorization": f"Bearer {token}"})
        assert created.status_code == 201
    finally:
        output = stop_with_ctrl_c(proc)
    assert "Stopped." in output and "Traceback" not in output, output
    assert (tmp_path / "identity.db").exists()

    proc = start([sys.executable, "-m", "shared.embedded"], tmp_path, port)
    try:
        wait_for(lambda: ready(port), timeout=120, message="gateway ready again")
        again = requests.get(f"http://127.0.0.1:{port}/.well-known/jwks.json",
                             timeout=5).json()["keys"][0]["kid"]
        assert again == kid  # same signing key: the data folder was reused
    finally:
        output = stop_with_ctrl_c(proc)
    assert proc.returncode == 0, output
    assert "Stopped." in output and "Traceback" not in output, output
