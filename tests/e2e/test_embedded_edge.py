"""Embedded mode's edge (`python -m shared.embedded`, as `make run` starts it): its gateway
is the socket, so the socket peer is the client and no X-Forwarded-For is trusted; a flood
of failed sign-ins stops only the addresses sending it; its access log holds paths, never
queries (issue 21)."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support import free_port, http_from, wait_for

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
OPERATOR = ("ops@example.org", "operator-secret-1")


class Embedded:
    def __init__(self, data_dir: Path):
        self.port = free_port()
        self.log = data_dir / "embedded.log"
        env = {**os.environ, "PP_DATA_DIR": str(data_dir), "PP_GATEWAY_PORT": str(self.port),
               "PP_BOOTSTRAP_OPERATOR_EMAIL": OPERATOR[0],
               "PP_BOOTSTRAP_OPERATOR_PASSWORD": OPERATOR[1], "PP_LOG_LEVEL": "INFO"}
        for name in ("PP_BROKER_URL", "PP_TRUSTED_PROXIES", "PP_GATEWAY_HOST"):
            env.pop(name, None)  # embedded mode's defaults
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "shared.embedded"],
                                            cwd=ROOT, env=env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self.ready, timeout=120, interval=0.3, message="embedded gateway ready")

    def ready(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/readyz",
                                timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def sign_in(self, source, email_address, password, forged="127.0.0.1"):
        return http_from(source, "POST", f"http://127.0.0.1:{self.port}/api/v1/auth/token",
                         {"grant_type": "password", "email": email_address,
                          "password": password}, {"X-Forwarded-For": forged})

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)
        self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    running = Embedded(tmp_path_factory.mktemp("embedded"))
    try:
        yield running
    finally:
        running.stop()


def test_a_flood_of_failed_sign_ins_never_locks_out_a_user_on_another_address(embedded):
    # Spread over many addresses, a few failures each, on unknown emails and the user's.
    for i in range(20):
        for email_address in (f"nobody-{i}@example.org", OPERATOR[0]):
            for _ in range(3):
                status, _ = embedded.sign_in(f"127.0.0.{10 + i}", email_address, "wrong-one")
                assert status == 401
    # From one address, forging the user's address as the client, until refused there.
    flood = [embedded.sign_in("127.0.0.2", OPERATOR[0] if i % 2 else f"x{i}@example.org",
                              "a-wrong-password")[0] for i in range(80)]
    assert set(flood) == {401, 429} and flood[-1] == 429
    assert embedded.sign_in("127.0.0.2", *OPERATOR)[0] == 429

    status, body = embedded.sign_in("127.0.0.1", *OPERATOR)
    assert status == 200 and body["access_token"]


def test_the_access_log_has_paths_never_queries(embedded):
    secret = "invitation-token-never-logged"
    status, _ = http_from("127.0.0.1", "POST",
                          f"http://127.0.0.1:{embedded.port}/api/v1/auth/activate"
                          f"?token={secret}&name=Smithson", {"token": secret,
                                                             "password": "whatever-it-is"})
    assert status == 400

    def logged() -> str:
        text = embedded.log.read_text(errors="replace")
        return text if "/api/v1/auth/activate" in text else ""
    text = wait_for(logged, timeout=20, message="the request in the access log")
    for leak in (secret, "Smithson", "127.0.0.1 - -"):
        assert leak not in text, leak
    assert "method=POST path=/api/v1/auth/activate status=400" in text
