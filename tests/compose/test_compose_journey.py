"""docker-compose.yml as a user runs it: `make compose-test` (deploy/compose/test.sh) builds
the image, brings the compose project up and runs this module against it; every call goes
through the compose's nginx, mail is read from its Mailpit, the databases from its
PostgreSQL container. Without a running compose project (PP_COMPOSE_GATEWAY unset) the
module is skipped: `make test` does not start Docker.
"""
import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest
import requests

from shared.config import SERVICES
from tests import second_factor
from tests.support import wait_for

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = os.environ.get("PP_COMPOSE_GATEWAY", "")
MAILPIT = os.environ.get("PP_COMPOSE_MAILPIT", "")
PROJECT = os.environ.get("PP_COMPOSE_PROJECT", "")
OPERATOR = (os.environ.get("PP_BOOTSTRAP_OPERATOR_EMAIL", ""),
            os.environ.get("PP_BOOTSTRAP_OPERATOR_PASSWORD", ""))
PERIOD = "Autumn 2026"

pytestmark = [pytest.mark.compose, pytest.mark.skipif(
    not GATEWAY, reason="no compose project running (make compose-test starts one)")]


def compose(*args: str) -> str:
    done = subprocess.run(["docker", "compose", "-p", PROJECT, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def sql(database: str, query: str) -> str:
    """One value from the compose's PostgreSQL, as its superuser, inside its container."""
    return compose("exec", "-T", "postgres", "psql", "-U", "postgres", "-d", database,
                   "-tAc", query).strip()


def call(method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, GATEWAY + path, headers=headers, timeout=60, **kwargs)


def sign_in(address: str, password: str) -> str:
    answer = call("post", "/api/v1/auth/token", json={
        "grant_type": "password", "email": address, "password": password})
    assert answer.status_code == 200, answer.text
    return second_factor.complete(second_factor.requests_post(GATEWAY),
                                  answer.json())["access_token"]


def mails(to: str, subject: str = "") -> list[str]:
    """The plain-text bodies Mailpit caught for an address, oldest first."""
    listed = requests.get(f"{MAILPIT}/api/v1/messages", timeout=10).json()["messages"]
    bodies = []
    for summary in reversed(listed):
        if any(to == a["Address"] for a in summary["To"]) and subject in summary["Subject"]:
            bodies.append(requests.get(f"{MAILPIT}/api/v1/message/{summary['ID']}",
                                       timeout=10).json()["Text"])
    return bodies


def activate(address: str, password: str) -> str:
    body = wait_for(lambda: mails(address)[-1:], timeout=90, interval=0.5,
                    message=f"the invitation to {address}")[0]
    link = re.search(r"(\S+)/activate\?token=([A-Za-z0-9_%-]+)", body)
    assert link and link.group(1) == os.environ["PP_PUBLIC_URL"], body  # links to this host
    answer = call("post", "/api/v1/auth/activate", json={
        "token": requests.utils.unquote(link.group(2)), "password": password})
    assert answer.status_code == 200, answer.text
    return sign_in(address, password)


def test_the_compose_stack_serves_the_whole_journey_through_its_nginx():
    assert call("get", "/healthz").json() == {"status": "alive"}
    # Every container is healthy by now; the aggregator asks each service with a short
    # timeout, which a loaded host can miss once.
    ready = wait_for(lambda: (r := call("get", "/readyz")).status_code == 200 and r,
                     timeout=120, interval=1, message="the gateway's /readyz")
    assert ready.json()["services"] == {s: "ready" for s in SERVICES}
    home = call("get", "/")  # the web app, from the ./web mount
    assert home.status_code == 200 and "<html" in home.text.lower()
    assert "default-src" in home.headers.get("Content-Security-Policy", "")
    assert call("get", "/asyncapi/asyncapi.json").json()["asyncapi"].startswith("3.")

    tag = uuid.uuid4().hex[:8]
    operator = sign_in(*OPERATOR)
    school = call("post", "/api/v1/schools", operator, json={"name": f"Compose {tag}"})
    assert school.status_code == 201, school.text
    school_id = school.json()["id"]
    admin_email = f"head-{tag}@hill.example"
    assert call("post", f"/api/v1/schools/{school_id}/staff", operator, json={
        "name": "Head", "email": admin_email, "role": "school_admin"}).status_code == 201
    admin = activate(admin_email, "an-admin-password-1")
    client = call("post", f"/api/v1/schools/{school_id}/clients", operator).json()
    system = call("post", "/api/v1/auth/token", json={
        "grant_type": "client_credentials", **client}).json()["access_token"]

    parent_email = f"parent-{tag}@home.example"
    request_id = f"compose-push-{tag}"
    pushed = call("post", "/api/v1/school-data/batches", system, headers={
        "X-Request-ID": request_id}, json={"batch_id": f"compose-{tag}", "events": [
            {"type": "student.upserted", "source_id": "S1", "data": {
                "given_name": "Ann", "family_name": "Lee", "date_of_birth": "2015-03-02",
                "form_group": "7A", "year_group": 7}},
            {"type": "guardian.upserted", "source_id": "G1", "data": {
                "given_name": "Pat", "family_name": "Lee", "email": parent_email,
                "students": [{"student_id": "S1", "relationship": "mother",
                              "receives_reports": True}]}},
            {"type": "staff.upserted", "source_id": "T1", "data": {
                "title": "Ms", "given_name": "Jo", "family_name": "Khan"}},
            {"type": "class.upserted", "source_id": "C1", "data": {
                "name": "7A Maths", "subject": "Maths", "teacher_ids": ["T1"],
                "student_ids": ["S1"]}},
            {"type": "attainment.recorded", "source_id": "A1", "data": {
                "student_id": "S1", "class_id": "C1", "period": PERIOD, "kind": "mark",
                "value": "42", "out_of": 50}}]})
    assert pushed.status_code == 202 and pushed.json()["accepted"] == 5, pushed.text
    assert pushed.headers["X-Request-ID"] == request_id

    parent = activate(parent_email, "a-parent-password-1")
    link = wait_for(lambda: call("get", "/api/v1/links", parent).json()["items"],
                    timeout=90, interval=0.5, message="the parent's link")[0]
    verified = call("post", f"/api/v1/links/{link['id']}/verify", parent,
                    json={"date_of_birth": "2015-03-02"})
    assert verified.status_code == 200 and verified.json()["status"] == "verified"
    student_id = link["student"]["id"]
    # Both reports and notifications have heard of the verified link (from RabbitMQ): a
    # report published before notifications knows the parent mails nobody.
    wait_for(lambda: sql("reports", "SELECT count(*) FROM parent_access WHERE "
                         f"student_id = '{student_id}' AND verified") != "0"
             and sql("notifications", "SELECT count(*) FROM verified_links WHERE "
                     f"link_id = '{link['id']}'") != "0",
             timeout=90, interval=0.5, message="the verified link known downstream")

    def published():  # reports hears of the data and the verified link from RabbitMQ
        answer = call("post", "/api/v1/reports/publish", admin, json={
            "period": PERIOD, "title": "Autumn report"})
        return answer.status_code == 202 and answer.json()["published"] == 1
    wait_for(published, timeout=90, interval=1, message="a report to publish")
    wait_for(lambda: mails(parent_email, "report"), timeout=90, interval=0.5,
             message="the report-published email in Mailpit")
    listed = wait_for(lambda: call("get", f"/api/v1/students/{student_id}/reports",
                                   parent).json().get("items"),
                      timeout=60, interval=0.5, message="the parent's report list")
    report = call("get", f"/api/v1/reports/{listed[0]['id']}", parent).json()
    assert report["subjects"][0]["attainment"][0]["value"] == "42"
    assert report["subjects"][0]["teachers"] == ["Ms Jo Khan"]

    # The gateway's request id followed the push into another container's worker.
    caused = [json.loads(line.split("|", 1)[1]) for line in
              compose("logs", "--no-color", "reports-worker").splitlines()
              if request_id in line and "|" in line and "{" in line]
    assert caused and {entry["service"] for entry in caused} == {"reports"}

    erasure = call("post", "/api/v1/subject-requests", admin, json={
        "kind": "erasure", "subject": {"type": "student", "source_id": "S1"}})
    assert erasure.status_code == 201, erasure.text

    def completed():
        view = call("get", f"/api/v1/subject-requests/{erasure.json()['id']}", admin).json()
        return view if view["status"] == "completed" else None
    view = wait_for(completed, timeout=180, interval=1, message="the erasure to complete")
    assert set(view["services"].values()) == {"done"}
    assert call("get", f"/api/v1/students/{student_id}/reports", parent).status_code == 404
    assert sql("reports", f"SELECT count(*) FROM students WHERE student_id = '{student_id}'") == "0"
