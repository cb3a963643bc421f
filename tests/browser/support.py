"""Browser tests' helpers: the embedded system as a subprocess with API helpers, Debian's
chromium driven by Playwright, named screenshots and an axe-core check.

Journey tests set the world up through the public API (a school, its admin, a pushed roster,
published reports) and then act as a person would in the browser. Every person here is made
up, with an email on the reserved .example domain.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import requests

from shared.demo import latest_invitation_link, token_of
from tests import second_factor
from tests.support import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PP_CHROMIUM") or "/usr/bin/chromium"  # Debian's package
# Debian's chromium, never a browser Playwright downloads; nothing may reach the internet.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
OPERATOR = ("operator@browser-tests.example", "operator-secret-1")
ADMIN_PASSWORD = "an-admin-password-1"
BLOCKING_IMPACTS = ("serious", "critical")


def artifacts_dir() -> Path:
    """Where screenshots and axe results go: $PP_TEST_ARTIFACTS, else tests/artifacts/
    browser/ (git-ignored)."""
    folder = Path(os.environ.get("PP_TEST_ARTIFACTS") or ROOT / "tests" / "artifacts"
                  / "browser")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _test_name() -> str:
    """The running test's name, fit for a file name (pytest sets PYTEST_CURRENT_TEST)."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "no-test").split(" ")[0]
    module, _, name = current.rpartition("::") if "::" in current else ("", "", current)
    module = Path(module.split("::")[0]).stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{module}.{name}" if module else name)[:150]


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot of this step as <test>--<name>.png in the artefacts."""
    path = artifacts_dir() / f"{_test_name()}--{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_accessible(page, context=None, name: str | None = None) -> dict:
    """Run axe-core (the copy bundled in axe-playwright-python: no CDN) in the page and fail
    on any violation of impact serious or critical, printing each. `context` narrows the
    check to part of the page (axe's context: a selector, or include/exclude). Returns
    axe's full results, which are also saved beside the screenshots."""
    from axe_playwright_python.sync_playwright import Axe
    results = Axe().run(page, context=context).response
    name = name or "axe-" + (re.sub(r"[^A-Za-z0-9]+", "_", urlsplit(page.url).path).strip("_")
                             or "root")
    (artifacts_dir() / f"{_test_name()}--{name}.json").write_text(
        json.dumps(results.get("violations", []), indent=1))
    blocking = [v for v in results.get("violations", [])
                if v.get("impact") in BLOCKING_IMPACTS]
    if blocking:
        lines = [f"{len(blocking)} serious or critical accessibility violation(s) on "
                 f"{page.url}:"]
        for violation in blocking:
            lines.append(f"- {violation['id']} ({violation['impact']}): "
                         f"{violation['help']} <{violation.get('helpUrl', '')}>")
            for node in violation.get("nodes", [])[:10]:
                lines.append(f"    {', '.join(map(str, node.get('target', [])))}: "
                             f"{node.get('failureSummary', '').replace(chr(10), ' ')}")
        report = "\n".join(lines)
        print(report)
        raise AssertionError(report)
    return results


# --- pushed school data (API.md "School data push") ----------------------------------------
def no_script_errors(page) -> None:
    """No CSP refusal or script error. The browser also logs each 4xx the app handles (a
    wrong answer's 422, a 404 while an event travels between services): not these."""
    handled = "Failed to load resource: the server responded with a status of 4"
    assert [e for e in page.console_errors if not e.startswith(handled)] == []


def said_once(page) -> None:
    """The error a form or dialog shows (its own alert) is not said again in the page's
    alert box (issue 24). Called once the form's alert is seen: ui.js says a message at
    once, in the same task as the screen's own, so a second would be there already (no
    fixed wait, which under load passed without the fix)."""
    assert page.locator("#alert").text_content() == "", "said again in the page's alert box"


def service_worker_in_control(page) -> None:
    """Waits until the service worker controls the page. Polled with evaluate: a bare
    expression given to wait_for_function is eval'd in the page, which the app's CSP
    (script-src 'self') refuses."""
    wait_for(lambda: page.evaluate("() => navigator.serviceWorker.controller !== null"),
             timeout=30, message="the service worker in control")


def main_nav(page, name: str):
    """A link of the main navigation (other links may contain the same word)."""
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name,
                                                                    exact=True)


def page_heading(page):
    return page.get_by_role("heading", level=1)


def fill_date(within, iso_date: str, name: str = "Date of birth") -> None:
    """Type a YYYY-MM-DD date into the day, month and year fields of the group `name` (the
    GOV.UK date input pattern: no browser date picker, no locale order)."""
    year, month, day = iso_date.split("-")
    group = within.get_by_role("group", name=name)
    group.get_by_label("Day").fill(str(int(day)))
    group.get_by_label("Month").fill(str(int(month)))
    group.get_by_label("Year").fill(year)


def student(source: str, given: str, family: str, date_of_birth: str, form_group: str = "7A",
            year_group: int = 7, email: str | None = None) -> dict:
    data = {"given_name": given, "family_name": family, "date_of_birth": date_of_birth,
            "form_group": form_group, "year_group": year_group}
    if email:
        data["email"] = email
    return {"type": "student.upserted", "source_id": source, "data": data}


def guardian(source: str, email: str, children: dict[str, bool], given: str = "Pat",
             family: str = "Example", relationship: str = "parent") -> dict:
    """`children`: student source id -> receives_reports."""
    return {"type": "guardian.upserted", "source_id": source, "data": {
        "given_name": given, "family_name": family, "email": email,
        "students": [{"student_id": s, "relationship": relationship, "receives_reports": r}
                     for s, r in children.items()]}}


def staff(source: str, title: str, given: str, family: str) -> dict:
    return {"type": "staff.upserted", "source_id": source, "data": {
        "title": title, "given_name": given, "family_name": family}}


def school_class(source: str, name: str, subject: str, teacher_ids: list[str],
                 student_ids: list[str]) -> dict:
    return {"type": "class.upserted", "source_id": source, "data": {
        "name": name, "subject": subject, "teacher_ids": teacher_ids,
        "student_ids": student_ids}}


def attainment(source: str, student_id: str, class_id: str, period: str, kind: str,
               value: str, out_of: float | None = None, topic: str | None = None) -> dict:
    data = {"student_id": student_id, "class_id": class_id, "period": period, "kind": kind,
            "value": value}
    if out_of is not None:
        data["out_of"] = out_of
    if topic is not None:
        data["topic"] = topic
    return {"type": "attainment.recorded", "source_id": source, "data": data}


def characteristic(source: str, student_id: str, period: str, kind: str, value: str,
                   class_id: str | None = None) -> dict:
    data = {"student_id": student_id, "period": period, "kind": kind, "value": value}
    if class_id is not None:
        data["class_id"] = class_id
    return {"type": "characteristic.recorded", "source_id": source, "data": data}


@dataclass
class Child:
    source_id: str
    name: str
    date_of_birth: str


@dataclass
class Family:
    """A made-up parent with children, as `family_events` pushes them."""
    parent_email: str
    children: list[Child]
    period: str
    events: list[dict] = field(repr=False)


def family_events(tag: str | None = None, period: str = "2026 Autumn",
                  children: int = 2) -> Family:
    """A parent (unique email) receiving reports for `children` children, one teacher, a
    Maths and an English class, a mark, grade and target per class and characteristics, all
    in `period`: enough for a report worth reading."""
    tag = tag or uuid.uuid4().hex[:8]
    kids = [Child(f"S-{tag}-{i}", f"{given} Testchild", born) for i, (given, born) in
            enumerate([("Avery", "2014-04-12"), ("Blake", "2016-10-30"),
                       ("Charlie", "2012-01-05")][:children], start=1)]
    email = f"parent-{tag}@browser-tests.example"
    events = [student(k.source_id, k.name.split()[0], "Testchild", k.date_of_birth)
              for k in kids]
    events.append(guardian(f"G-{tag}", email, {k.source_id: True for k in kids}))
    events.append(staff(f"T-{tag}", "Ms", "Tess", "Teacherly"))
    for subject, out_of in (("Maths", 50), ("English", 40)):
        class_id = f"C-{tag}-{subject}"
        events.append(school_class(class_id, f"7A {subject}", subject, [f"T-{tag}"],
                                   [k.source_id for k in kids]))
        for i, kid in enumerate(kids):
            key = f"{kid.source_id}-{subject}"
            events += [
                attainment(f"{key}-mark", kid.source_id, class_id, period, "mark",
                           str(int(out_of * (0.6 + 0.1 * i))), out_of=out_of, topic="Topic A"),
                attainment(f"{key}-grade", kid.source_id, class_id, period, "grade", "5"),
                attainment(f"{key}-target", kid.source_id, class_id, period, "target", "6"),
                characteristic(f"{key}-effort", kid.source_id, period, "effort", "Good",
                               class_id=class_id),
                characteristic(f"{key}-attitude", kid.source_id, period, "attitude",
                               "Excellent", class_id=class_id)]
    for kid in kids:
        events.append(characteristic(f"{kid.source_id}-attendance", kid.source_id, period,
                                     "attendance", "96.5"))
    return Family(parent_email=email, children=kids, period=period, events=events)


# --- the running system -------------------------------------------------------------------
@dataclass
class School:
    id: str
    admin_email: str
    admin_password: str
    admin_token: str
    system_token: str


class WebSystem:
    """`python -m shared.embedded` on a free port with its own data folder."""

    def __init__(self, data_dir: Path, extra_env: dict | None = None):
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.mail_dir = self.data_dir / "mail"
        self.log_path = self.data_dir / "embedded.log"
        self.operator = OPERATOR
        self._operator: tuple[str, float] | None = None  # operator_token's, and when to renew
        self.http = requests.Session()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PP_") or k in ("PP_LOG_LEVEL",)}
        env.update(PP_DATA_DIR=str(self.data_dir), PP_GATEWAY_PORT=str(self.port),
                   PP_PUBLIC_URL=self.base_url,  # links in the mails open this system
                   PP_BOOTSTRAP_OPERATOR_EMAIL=OPERATOR[0],
                   PP_BOOTSTRAP_OPERATOR_PASSWORD=OPERATOR[1], **(extra_env or {}))
        self._log = open(self.log_path, "ab")
        # A file, not a pipe: nobody reads the output while the tests run.
        self.proc = subprocess.Popen([sys.executable, "-m", "shared.embedded"], cwd=ROOT,
                                     env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_ready(self, timeout: float = 180.0) -> None:
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"the embedded system exited ({self.proc.returncode}):"
                                     f"\n{self.log_tail()}")
            try:
                return self.http.get(self.base_url + "/readyz", timeout=2).status_code == 200
            except requests.RequestException:
                return False
        wait_for(ready, timeout=timeout, interval=0.2, message="the embedded system ready")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C: drains, then exits
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()
        self.http.close()

    # --- API ------------------------------------------------------------------------------
    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def call(self, method: str, path: str, token: str | None = None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.base_url + path, headers=headers, timeout=60,
                                 **kwargs)

    def sign_in(self, email: str, password: str) -> str:
        """An access token; a staff or operator one passed the second factor (enrolled
        by tests/second_factor.py at the login's first sign-in)."""
        answer = self.call("post", "/api/v1/auth/token", json={
            "grant_type": "password", "email": email, "password": password})
        assert answer.status_code == 200, answer.text
        return second_factor.complete(second_factor.requests_post(self.base_url, self.http),
                                      answer.json(), email=email)["access_token"]

    def staff_signs_in(self, page, email: str, password: str) -> None:
        """A member of staff or an operator signs in on the page: the password, then the
        authenticator's code (their app enrolled through the API first, if not yet)."""
        from playwright.sync_api import expect
        if not second_factor.knows(email):
            self.sign_in(email, password)  # enrols the login's authenticator
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
        page.get_by_label("Code", exact=True).fill(second_factor.code_for(email))
        page.get_by_role("button", name="Continue").click()

    def verify_receipt(self, text: str):
        """A downloaded receipt, verified offline against every service's published
        receipt keys (GET /receipt-keys/<service>, through the gateway)."""
        from shared.config import SERVICES
        from shared.receipts import service_keys, verify_receipt
        keys = {}
        for service in SERVICES:
            published = self.call("get", f"/receipt-keys/{service}")
            assert published.status_code == 200, published.text
            keys[service] = service_keys(published.json(), service)[1]
        return verify_receipt(text, keys)

    def operator_token(self) -> str:
        """The operator's token, signed in anew only when it is ten minutes old or near
        its end: every sign-in spends one of the operator's authenticator codes (one a
        30-second step, then the recovery codes), so a sign-in per use would wait on the
        clock; ten minutes keeps its second factor inside step-up's fifteen."""
        token, renew_at = self._operator or ("", 0.0)
        if time.time() >= renew_at:
            token = self.sign_in(*self.operator)
            claims = jwt.decode(token, options={"verify_signature": False})
            renew_at = min(claims["exp"] - 120, claims["iat"] + 600)
            self._operator = (token, renew_at)
        return token

    def invitation_link(self, email: str, timeout: float = 60.0) -> str:
        """The newest invitation link mailed to `email` (an .eml in the mail folder),
        waiting for it; it points at this system (PP_PUBLIC_URL), ready for page.goto."""
        return wait_for(lambda: latest_invitation_link(self.mail_dir, email),
                        timeout=timeout, interval=0.1, message="an invitation email")

    def activate(self, email: str, password: str) -> str:
        """Accept the invitation through the API (for people a test does not follow in the
        browser); returns an access token."""
        token = token_of(self.invitation_link(email))
        answer = self.call("post", "/api/v1/auth/activate",
                           json={"token": token, "password": password})
        assert answer.status_code == 200, answer.text
        return self.sign_in(email, password)

    def create_school(self, name: str | None = None, *, student_accounts: bool = False,
                      admin_email: str | None = None,
                      admin_password: str = ADMIN_PASSWORD) -> School:
        """A new active school, its admin (invited and activated) and a school system's
        token (client credentials)."""
        tag = uuid.uuid4().hex[:8]
        operator = self.operator_token()
        created = self.call("post", "/api/v1/schools", operator, json={
            "name": name or f"Browser School {tag}", "student_accounts": student_accounts})
        assert created.status_code == 201, created.text
        school_id = created.json()["id"]
        admin_email = admin_email or f"admin-{tag}@browser-tests.example"
        invited = self.call("post", f"/api/v1/schools/{school_id}/staff", operator, json={
            "name": "Alex Admin", "email": admin_email, "role": "school_admin"})
        assert invited.status_code == 201, invited.text
        admin = self.activate(admin_email, admin_password)
        client = self.call("post", f"/api/v1/schools/{school_id}/clients", operator)
        assert client.status_code == 201, client.text
        system = self.call("post", "/api/v1/auth/token", json={
            "grant_type": "client_credentials", **client.json()})
        assert system.status_code == 200, system.text
        return School(school_id, admin_email, admin_password, admin,
                      system.json()["access_token"])

    def push(self, school: School | str, events: list[dict],
             batch_id: str | None = None) -> dict:
        """POST /api/v1/school-data/batches as the school's system; every event accepted."""
        token = school.system_token if isinstance(school, School) else school
        answer = self.call("post", "/api/v1/school-data/batches", token, json={
            "batch_id": batch_id or uuid.uuid4().hex, "events": events})
        assert answer.status_code == 202 and not answer.json()["rejected"], answer.text
        return answer.json()

    def publish(self, school: School | str, period: str, expect: int,
                title: str | None = None, visible_from: str | None = None,
                timeout: float = 60.0) -> int:
        """POST /api/v1/reports/publish as the school admin once reports holds the pushed
        data: it publishes for every student with data in the period, so it is retried
        while it finds none yet (which creates nothing). `expect`: the number of students
        with data in the period; fewer means a partial publish, which fails loudly."""
        token = school.admin_token if isinstance(school, School) else school
        body = {"period": period, "title": title or f"{period} report"}
        if visible_from:
            body["visible_from"] = visible_from

        def published():
            answer = self.call("post", "/api/v1/reports/publish", token, json=body)
            assert answer.status_code == 202, answer.text
            return answer.json()["published"]
        count = wait_for(published, timeout=timeout, interval=0.2,
                         message=f"reports to publish for {period}")
        assert count == expect, (f"published {count} reports, expected {expect}: reports "
                                 "had not applied the whole push yet")
        return count

    def links(self, parent_token: str, count: int = 1, timeout: float = 60.0) -> list[dict]:
        """The parent's links, once there are at least `count` of them."""
        def enough():
            items = self.call("get", "/api/v1/links", parent_token).json().get("items", [])
            return items if len(items) >= count else None
        return wait_for(enough, timeout=timeout, interval=0.1, message="the parent's links")

    def reports_of(self, token: str, student_id: str, count: int = 1,
                   timeout: float = 60.0) -> list[dict]:
        """A student's report list as `token` sees it, once it has `count` reports (a
        verified link reaches reports by an event, so it is waited for)."""
        def enough():
            answer = self.call("get", f"/api/v1/students/{student_id}/reports", token)
            items = answer.json().get("items", []) if answer.status_code == 200 else []
            return items if len(items) >= count else None
        return wait_for(enough, timeout=timeout, interval=0.1, message="the report list")
