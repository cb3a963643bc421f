"""`make run DEMO=1` (shared/demo.py): the demo parent signs in and reads a report at once,
the printed date of birth confirms the second child, and a restart on the same data folder
loads nothing twice."""
import json
import os
import re
import sys
import time

import pyotp
import pytest
import requests

from shared import demo
from tests.e2e.test_make_run import ready, spawn, stop_with_ctrl_c
from tests.support import free_port, wait_for

pytestmark = pytest.mark.e2e


def start_demo(data_dir, port):
    # No PP_BOOTSTRAP_OPERATOR_*: as `make run DEMO=1` on a fresh machine, the demo's
    # made-up operator is used.
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PP_BOOTSTRAP_OPERATOR") and key != "PP_BROKER_URL"}
    env.update(PP_DATA_DIR=str(data_dir), PP_GATEWAY_PORT=str(port),
               PP_PUBLIC_URL=f"http://127.0.0.1:{port}")
    return spawn([sys.executable, "-m", "shared.embedded", "--demo"], env)


class Client:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method, path, token=None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, self.base + path, headers=headers, timeout=30,
                                **kwargs)

    def sign_in(self, login):
        answer = self.call("post", "/api/v1/auth/token", json={
            "grant_type": "password", "email": login[0], "password": login[1]})
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]


def _the_box(output: str) -> list[str]:
    """The lines inside the box `make run` prints once it is ready."""
    lines = output.splitlines()
    top = next(i for i, line in enumerate(lines) if re.fullmatch(r"\+-+\+", line))
    bottom = next(i for i in range(top + 1, len(lines)) if lines[i] == lines[top])
    return [line[2:-2].rstrip() for line in lines[top + 1:bottom]]


def test_demo_parent_reads_a_report_and_a_restart_loads_nothing_twice(tmp_path):
    port = free_port()
    api = Client(port)
    proc = start_demo(tmp_path, port)
    try:
        # The port opens only once the demo is loaded.
        wait_for(lambda: ready(port), timeout=180, message="gateway ready with the demo")
        parent = api.sign_in(demo.PARENT)
        links = api.call("get", "/api/v1/links", parent).json()["items"]
        by_status = {link["status"]: link for link in links}
        assert sorted(by_status) == ["pending", "verified"], links
        child = by_status["verified"]["student"]["id"]
        listed = api.call("get", f"/api/v1/students/{child}/reports", parent).json()["items"]
        assert sorted(r["period"] for r in listed) == sorted(demo.PERIODS)
        report = api.call("get", f"/api/v1/reports/{listed[0]['id']}", parent)
        assert report.status_code == 200, report.text
        subjects = {s["subject"]: s for s in report.json()["subjects"]}
        assert {"Maths", "English", "Science"} <= set(subjects)
        maths = subjects["Maths"]
        assert {a["kind"] for a in maths["attainment"]} == {"mark", "grade", "target"}
        assert {c["kind"] for c in maths["characteristics"]} >= {"attitude", "effort"}
        assert maths["teachers"]
        # The other logins work too.
        for login in (demo.OPERATOR, demo.ADMIN, demo.STUDENT):
            api.sign_in(login)
    finally:
        output = stop_with_ctrl_c(proc)
    assert proc.returncode == 0, output
    assert "Traceback" not in output and "could not be loaded" not in output, output
    # Issue 24: the logins are not buried. They come in a box after every line of starting
    # up (the port opens after the box), and the log lines stay few and plain JSON.
    box = _the_box(output)
    assert box[0].startswith("Pupil Progress is running on http://127.0.0.1:")
    box_text = "\n".join(box)
    for login in (demo.OPERATOR, demo.ADMIN, demo.PARENT, demo.STUDENT):
        assert f"{login[0]}  {login[1]}" in box_text
    assert demo.PENDING_CHILD[3] in box_text  # the date of birth to try
    logged = [line for line in output.splitlines() if line.startswith("{")]
    starting = output[:output.index(box[0])]
    assert len([line for line in starting.splitlines() if line.startswith("{")]) < 40
    assert all(json.loads(line) and "\x1b" not in line and "\\u001b" not in line
               for line in logged)
    assert not any('"applied event_id=' in line for line in logged)  # one a event: quiet
    # Staff sign in in two steps: their authenticator keys are printed.
    keys = dict(re.findall(r"^  (\S+@demo-academy\.example)  ([A-Z2-7]{32})$", box_text,
                           re.MULTILINE))
    assert set(keys) == {demo.OPERATOR[0], demo.ADMIN[0]}, output

    proc = start_demo(tmp_path, port)
    try:
        wait_for(lambda: ready(port), timeout=180, message="gateway ready again")
        parent = api.sign_in(demo.PARENT)
        links = api.call("get", "/api/v1/links", parent).json()["items"]
        assert len(links) == 2, links
        again = api.call("get", f"/api/v1/students/{child}/reports", parent).json()["items"]
        assert again == listed  # nothing published twice
        # The printed date of birth confirms the pending child.
        pending = next(link for link in links if link["status"] == "pending")
        verified = api.call("post", f"/api/v1/links/{pending['id']}/verify", parent,
                            json={"date_of_birth": demo.PENDING_CHILD[3]})
        assert verified.status_code == 200 and verified.json()["status"] == "verified"
        # A person signs in as the admin with the printed key (a code of a step after the
        # demo's own sign-ins: each code is accepted once).
        password_only = api.call("post", "/api/v1/auth/token", json={
            "grant_type": "password", "email": demo.ADMIN[0], "password": demo.ADMIN[1]})
        assert password_only.json()["second_factor"] == "required"
        token = password_only.json()["access_token"]
        assert api.call("get", "/api/v1/subject-requests", token).status_code == 401
        totp = pyotp.TOTP(keys[demo.ADMIN[0]])
        used = json.loads((tmp_path / "keys" / "demo-authenticator.json").read_text())[
            demo.ADMIN[0]]["last_step"]
        wait_for(lambda: totp.timecode(time.time()) > used, timeout=70, interval=1,
                 message="a step after the demo's last code")
        passed = api.call("post", "/api/v1/auth/second-factor", token,
                          json={"code": totp.now()})
        assert passed.status_code == 200, passed.text
        assert api.call("get", "/api/v1/subject-requests",
                        passed.json()["access_token"]).status_code == 200
    finally:
        output = stop_with_ctrl_c(proc)
    assert proc.returncode == 0, output
    assert "already loaded" in output and "Traceback" not in output, output
