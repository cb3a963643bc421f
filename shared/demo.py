"""`make run DEMO=1`: a demo school with reports worth looking at, loaded through the
public API only, as an operator, a school admin, a school system and a parent would.

It talks to the embedded gateway's WSGI app in-process (werkzeug's test client) rather
than over HTTP: the same routing, authentication and validation as a request on the
port, but it runs before the port opens (nobody sees a half-loaded school, and the
logins are printed with the address), needs no port of its own, and can wait for the
embedded system to go quiet between steps instead of polling with guesses. Every piece
of data still goes through the API; nothing writes a database directly.

Idempotent on the same PP_DATA_DIR: `demo.json` there records which steps are done (ids
only, no personal data and no secret), every step is safe to repeat (fixed batch ids,
sign-in before activation), and a finished demo is not loaded again.

The operator and the school admin sign in in two steps (issue 25): the demo enrols their
authenticator keys through the API at their first sign-in, keeps them in
PP_DATA_DIR/keys/demo-authenticator.json (made-up logins, as the passwords printed here)
and prints them, for a person to add to an authenticator app.

Everyone here is made up: names, emails (on the reserved .example domain) and dates.
"""
from __future__ import annotations

import email
import email.policy
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote

import pyotp
from werkzeug.test import Client

# A JSON object as the API takes and answers it.
Json = dict[str, Any]
WsgiApp = Callable[..., Any]

log = logging.getLogger("pp.demo")

SCHOOL_NAME = "Demo Academy"
OPERATOR = ("operator@demo-academy.example", "demo-operator-pass-1")
ADMIN = ("admin@demo-academy.example", "demo-admin-pass-1")
PARENT = ("parent@demo-academy.example", "demo-parent-pass-1")
STUDENT = ("casey@students.demo-academy.example", "demo-student-pass-1")
PERIODS = ("2026 Spring", "2026 Autumn")  # published in this order: Autumn is the latest

# (source id, given, family, date of birth, form group, year group, own email or None)
STUDENTS = [
    ("DEMO-S1", "Alex", "Sample", "2013-05-17", "8B", 8, None),
    ("DEMO-S2", "Jamie", "Sample", "2015-09-03", "6C", 6, None),
    ("DEMO-S3", "Casey", "Placeholder", "2013-11-22", "8B", 8, STUDENT[0]),
    ("DEMO-S4", "Riley", "Exampleton", "2015-02-08", "6C", 6, None),
]
VERIFIED_CHILD, PENDING_CHILD = STUDENTS[0], STUDENTS[1]
STAFF = [
    ("DEMO-T1", "Ms", "Ada", "Testwell"),
    ("DEMO-T2", "Mr", "Ben", "Mockford"),
    ("DEMO-T3", "Dr", "Cleo", "Fakeley"),
]
# subject -> (teacher, topics per period, mark out of)
SUBJECTS = {
    "Maths": ("DEMO-T1", ("Fractions", "Algebra"), 50),
    "English": ("DEMO-T2", ("Poetry", "Persuasive writing"), 40),
    "Science": ("DEMO-T3", ("Cells", "Forces"), 60),
}
SCALE = ("Needs attention", "Fair", "Good", "Excellent")


class DemoError(RuntimeError):
    """A step answered something unexpected (the message names the step and status)."""


@dataclass
class DemoResult:
    school_id: str
    operator_email: str
    operator_password: str | None  # None: the operator's password came from the environment
    loaded_now: bool
    # email -> the authenticator (TOTP) key of the demo's staff logins
    authenticator_keys: dict[str, str] = field(default_factory=dict)


# --- mail ---------------------------------------------------------------------------------
_ACTIVATE = re.compile(r"(\S+/activate\?token=\S+)")


def latest_invitation_link(mail_dir: Path | str, address: str) -> str | None:
    """The activation link of the newest invitation mailed to `address` in an embedded
    system's mail folder (PP_DATA_DIR/mail/*.eml), or None while there is none."""
    folder = Path(mail_dir)
    if not folder.is_dir():
        return None
    found: list[tuple[int, str]] = []
    for path in folder.glob("*.eml"):
        try:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            stamp = path.stat().st_mtime_ns
        except OSError:  # being written or removed right now
            continue
        if address.lower() not in str(message["To"] or "").lower():
            continue
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                match = _ACTIVATE.search(part.get_content())
                if match:
                    found.append((stamp, match.group(1)))
    return max(found)[1] if found else None


def token_of(link: str) -> str:
    """The `token` of an activation link, as POST /api/v1/auth/activate takes it."""
    return unquote(link.split("token=", 1)[1].split("&", 1)[0])


# --- the data ---------------------------------------------------------------------------
def _level(student: int, subject: int, period: int) -> int:
    """A made-up but plausible 0..3 position on a scale, improving from one period to the
    next for most students."""
    return min(3, (student + subject) % 3 + period)


def roster_events() -> list[Json]:
    events: list[Json] = []
    for source, given, family, born, form, year, own_email in STUDENTS:
        data: Json = {"given_name": given, "family_name": family, "date_of_birth": born,
                "form_group": form, "year_group": year}
        if own_email:
            data["email"] = own_email
        events.append({"type": "student.upserted", "source_id": source, "data": data})
    events += [
        # The demo parent: both Sample children, receiving reports for each.
        {"type": "guardian.upserted", "source_id": "DEMO-G1", "data": {
            "given_name": "Robin", "family_name": "Sample", "email": PARENT[0],
            "students": [{"student_id": "DEMO-S1", "relationship": "parent",
                          "receives_reports": True},
                         {"student_id": "DEMO-S2", "relationship": "parent",
                          "receives_reports": True}]}},
        # A recorded contact who must never see the child's data (safeguarding): an
        # account and an invitation, but no link.
        {"type": "guardian.upserted", "source_id": "DEMO-G2", "data": {
            "given_name": "Morgan", "family_name": "Sample",
            "email": "contact@demo-academy.example",
            "students": [{"student_id": "DEMO-S1", "relationship": "other contact",
                          "receives_reports": False}]}},
        {"type": "guardian.upserted", "source_id": "DEMO-G3", "data": {
            "given_name": "Sky", "family_name": "Exampleton",
            "email": "exampleton@demo-academy.example",
            "students": [{"student_id": "DEMO-S4", "relationship": "carer",
                          "receives_reports": True}]}},
    ]
    for source, title, given, family in STAFF:
        events.append({"type": "staff.upserted", "source_id": source, "data": {
            "title": title, "given_name": given, "family_name": family}})
    for form in sorted({s[4] for s in STUDENTS}):
        members = [s[0] for s in STUDENTS if s[4] == form]
        for subject, (teacher, _, _) in SUBJECTS.items():
            events.append({"type": "class.upserted", "source_id": f"DEMO-C-{form}-{subject}",
                           "data": {"name": f"{form} {subject}", "subject": subject,
                                    "teacher_ids": [teacher], "student_ids": members}})
    return events


def results_events() -> list[Json]:
    events: list[Json] = []
    for s, student in enumerate(STUDENTS):
        source, form = student[0], student[4]
        for p, period in enumerate(PERIODS):
            key = f"{source}-P{p + 1}"
            for j, (subject, (_, topics, out_of)) in enumerate(SUBJECTS.items()):
                class_id = f"DEMO-C-{form}-{subject}"
                level = _level(s, j, p)
                mark = round(out_of * (0.45 + 0.15 * level + 0.02 * s))
                grade = 4 + level  # a 9-1 style scale
                target = 6 + (s + j) % 2
                for kind, value, extra in (
                        ("mark", str(mark), {"out_of": out_of, "topic": topics[p]}),
                        ("grade", str(grade), {}), ("target", str(target), {})):
                    events.append({"type": "attainment.recorded",
                                   "source_id": f"{key}-{subject}-{kind}",
                                   "data": {"student_id": source, "class_id": class_id,
                                            "period": period, "kind": kind,
                                            "value": value, **extra}})
                for k, kind in enumerate(("attitude", "effort", "behaviour")):
                    events.append({"type": "characteristic.recorded",
                                   "source_id": f"{key}-{subject}-{kind}",
                                   "data": {"student_id": source, "class_id": class_id,
                                            "period": period, "kind": kind,
                                            "value": SCALE[_level(s, j + k, p)]}})
            events.append({"type": "characteristic.recorded",
                           "source_id": f"{key}-attendance",
                           "data": {"student_id": source, "period": period,
                                    "kind": "attendance",
                                    "value": f"{93.5 + 1.5 * ((s + p) % 4):.1f}"}})
    return events


# --- talking to the gateway ---------------------------------------------------------------
class Authenticators:
    """The demo staff's authenticator keys, and the time step of the last code each gave
    (identity accepts a code once), in a file of the data folder's keys."""

    def __init__(self, path: Path):
        self.path = path
        self.known: dict[str, Json] = (json.loads(path.read_text()) if path.exists()
                                       else {})

    def key(self, email: str) -> str | None:
        entry = self.known.get(email)
        return str(entry["key"]) if entry else None

    def remember(self, email: str, key: str) -> None:
        self.known[email] = {"key": key, "last_step": 0}
        self._save()

    def next_code(self, email: str) -> str:
        """A code of a step no earlier sign-in used (waiting for the next step if this
        one's and the next one's are used)."""
        entry = self.known[email]
        totp = pyotp.TOTP(entry["key"])
        while True:
            now = totp.timecode(time.time())
            step = max(entry["last_step"] + 1, now)
            if step <= now + 1:
                entry["last_step"] = step
                self._save()
                return str(totp.generate_otp(step))
            time.sleep(1)  # both codes of this window used: the next step's

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(json.dumps(self.known, indent=1))
        tmp.replace(self.path)


class Api:
    def __init__(self, wsgi_app: WsgiApp, authenticators: Authenticators | None = None):
        self.client = Client(wsgi_app)
        self.authenticators = authenticators

    def call(self, method: str, path: str, token: str | None = None,
             body: Json | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.client.open(path, method=method.upper(), json=body, headers=headers)
        try:
            return response.status_code, response.get_json(silent=True) or {}
        finally:
            response.close()

    def expect(self, step: str, statuses: tuple[int, ...], method: str, path: str,
               token: str | None = None, body: Json | None = None) -> Any:
        status, answer = self.call(method, path, token, body)
        if status not in statuses:
            # The error code only: an answer may echo what was sent (names, emails).
            code = answer.get("error", {}).get("code") if isinstance(answer, dict) else None
            raise DemoError(f"demo step '{step}' answered {status} ({code})")
        return answer

    def sign_in(self, address: str, password: str) -> str | None:
        """An access token (for staff and operators, past the second factor), or None if
        the password is refused."""
        status, answer = self.call("post", "/api/v1/auth/token", body={
            "grant_type": "password", "email": address, "password": password})
        if status != 200:
            return None
        token: str = answer["access_token"]
        state = answer.get("second_factor")
        if state in (None, "passed"):
            return token
        if self.authenticators is None:
            raise DemoError("demo step 'second factor' has no authenticator keys")
        if state == "enrol":
            key = self.expect("enrol an authenticator", (201,), "post",
                              "/api/v1/auth/second-factor/totp", token, {})["key"]
            self.authenticators.remember(address, key)
            confirmed: str = self.expect(
                "confirm the authenticator", (200,), "post",
                "/api/v1/auth/second-factor/totp/confirm", token,
                {"code": self.authenticators.next_code(address)})["access_token"]
            return confirmed
        if self.authenticators.key(address) is None:
            raise DemoError("demo step 'second factor' met a login whose authenticator "
                            "the demo did not enrol (set up by hand?)")
        passed: str = self.expect("pass the second factor", (200,), "post",
                                  "/api/v1/auth/second-factor", token,
                                  {"code": self.authenticators.next_code(address)}
                                  )["access_token"]
        return passed


class DemoLoader:
    def __init__(self, wsgi_app: WsgiApp, data_dir: Path, settle: Callable[[], object],
                 operator: tuple[str, str]):
        """`settle`: wait until the system has delivered every event so far (embedded
        mode's drain)."""
        self.data_dir = Path(data_dir)
        self.authenticators = Authenticators(self.data_dir / "keys" /
                                             "demo-authenticator.json")
        self.api = Api(wsgi_app, self.authenticators)
        self.settle = settle
        self.operator = operator
        self.state_file = self.data_dir / "demo.json"
        self.state: Json = {}
        self.loaded_now = False

    def _save(self, **done: Any) -> None:
        self.state.update(done)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1))
        tmp.replace(self.state_file)

    def _wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.api.call("get", "/readyz")[0] != 200:
            if time.monotonic() > deadline:
                raise DemoError("the system did not become ready for the demo")
            time.sleep(0.2)  # consumers connecting on their threads

    def load(self) -> str:
        """Load the demo school (or find it loaded); returns its id. Each step is skipped
        when demo.json says an earlier (perhaps interrupted) load did it."""
        self._wait_ready()
        if self.state_file.exists():
            self.state = json.loads(self.state_file.read_text())
        operator = self.api.sign_in(*self.operator)
        if operator is None:
            raise DemoError("the operator cannot sign in (is PP_BOOTSTRAP_OPERATOR_PASSWORD "
                            "the password this data folder's operator was created with?)")
        school_id = self._school_still_there(operator)
        if school_id and self.state.get("done"):
            return school_id
        log.info("loading the demo school")
        self.loaded_now = True
        school_id = school_id or self._create_school(operator)
        self.settle()
        admin = self._school_admin(school_id, operator)
        if not self.state.get("pushed"):
            self._push_school_data(school_id, operator)
        parent = self._activated("parent", PARENT, operator)
        self._activated("student", STUDENT, operator)
        self.settle()  # AccountActivated reaches linking: the parent's links appear
        self._verify_first_child(parent)
        self._publish_periods(admin)
        self._save(done=True)
        return school_id

    def _school_still_there(self, operator: str) -> str | None:
        """The school of an earlier load, if the system still has it (the databases may
        have been removed without demo.json)."""
        school_id: str | None = self.state.get("school_id")
        if school_id:
            status, _ = self.api.call("patch", f"/api/v1/schools/{school_id}", operator,
                                      {"student_accounts": True})
            if status == 404:
                self.state = {}
                return None
        return school_id

    def _create_school(self, operator: str) -> str:
        school_id: str = self.api.expect(
            "create the school", (201,), "post", "/api/v1/schools", operator, {
                "name": SCHOOL_NAME, "student_accounts": True,
                "authorisation": {"reference": "DEMO-DPIA-0001",
                                  "authorised_by": "Demo Academy governors",
                                  "date": "2026-09-01"}})["id"]
        self._save(school_id=school_id)
        return school_id

    def _school_admin(self, school_id: str, operator: str) -> str:
        """The school admin's token (invited and activated first, if need be)."""
        if not self.state.get("admin_account"):
            self._save(admin_account=self.api.expect(
                "invite the school admin", (201,), "post",
                f"/api/v1/schools/{school_id}/staff", operator,
                {"name": "Dana Headley", "email": ADMIN[0], "role": "school_admin"})["id"])
            self.settle()
        return self._activated("admin", ADMIN, operator, self.state["admin_account"])

    def _push_school_data(self, school_id: str, operator: str) -> None:
        """The roster, then the results, as the school's system would push them."""
        client = self.api.expect("issue client credentials", (201,), "post",
                                 f"/api/v1/schools/{school_id}/clients", operator)
        system = self.api.expect("client credentials sign-in", (200,), "post",
                                 "/api/v1/auth/token", body={
                                     "grant_type": "client_credentials", **client})
        for batch_id, events in (("demo-roster-1", roster_events()),
                                 ("demo-results-1", results_events())):
            answer = self._push(batch_id, system["access_token"], events)
            if answer.get("rejected"):
                raise DemoError(f"demo push {batch_id} rejected "
                                f"{len(answer['rejected'])} events: "
                                f"{[r.get('index') for r in answer['rejected']][:5]}")
            self.settle()  # the roster applied everywhere before results refer to it
        self._save(pushed=True)

    def _push(self, batch_id: str, token: str, events: list[Json]) -> Any:
        """One batch; beyond the school's pace (429), the same batch after Retry-After."""
        while True:
            answer = self.api.expect(f"push {batch_id}", (202, 429), "post",
                                     "/api/v1/school-data/batches", token,
                                     {"batch_id": batch_id, "events": events})
            if "error" not in answer:
                return answer
            time.sleep(answer["error"]["retry_after"])

    def _verify_first_child(self, parent: str) -> None:
        links = self.api.expect("list the parent's links", (200,), "get", "/api/v1/links",
                                parent)["items"]
        child_name = f"{VERIFIED_CHILD[1]} {VERIFIED_CHILD[2]}"
        link = next((item for item in links if item["student"]["name"] == child_name), None)
        if link is None:
            raise DemoError("demo step 'find the parent's link' found none")
        if link["status"] == "pending":
            self.api.expect("verify the first child", (200,), "post",
                            f"/api/v1/links/{link['id']}/verify", parent,
                            {"date_of_birth": VERIFIED_CHILD[3]})
            self.settle()  # ParentVerified reaches reports and notifications

    def _publish_periods(self, admin: str) -> None:
        for period in PERIODS:
            if period in self.state.get("published", []):
                continue
            self.api.expect(f"publish {period}", (202,), "post", "/api/v1/reports/publish",
                            admin, {"period": period, "title": f"{period} report"})
            self._save(published=[*self.state.get("published", []), period])
        self.settle()

    def _activated(self, key: str, login: tuple[str, str], operator: str,
                   account_id: str | None = None) -> str:
        """Sign in; if the account is not active yet, accept its invitation first (read
        from the mail folder, as the invitee would). Sign-in is tried only once activated:
        failed sign-ins count towards the address's throttle."""
        if key in self.state.get("activated", []):
            token = self.api.sign_in(*login)
            if token:
                return token
        self._accept_invitation(login, operator, account_id)
        token = self.api.sign_in(*login)
        if token is None:
            raise DemoError("demo step 'sign in after activation' failed")
        self._save(activated=sorted({*self.state.get("activated", []), key}))
        return token

    def _accept_invitation(self, login: tuple[str, str], operator: str,
                           account_id: str | None) -> None:
        """Activate with the newest invitation in the mail folder; a used or expired one
        (an interrupted earlier load) is replaced by a fresh one, once."""
        for attempt in range(2):
            link = latest_invitation_link(self.data_dir / "mail", login[0])
            if link:
                status, _ = self.api.call("post", "/api/v1/auth/activate", body={
                    "token": token_of(link), "password": login[1]})
                if status == 200:
                    return
                if attempt == 0 and self.api.sign_in(*login):
                    return  # activated by an earlier, interrupted load
            if attempt or account_id is None:
                raise DemoError("demo step 'accept an invitation' found no usable "
                                "invitation in the mail folder (with PP_SMTP_HOST set, "
                                "mail goes to that server instead)")
            self.api.expect("resend an invitation", (202,), "post",
                            f"/api/v1/accounts/{account_id}/invitation", operator)
            self.settle()


def logins_text(result: DemoResult) -> str:
    operator_password = (result.operator_password if result.operator_password is not None
                         else "(the password in PP_BOOTSTRAP_OPERATOR_PASSWORD)")
    born = PENDING_CHILD[3]
    return "\n".join([
        f"Demo school '{SCHOOL_NAME}' " + ("loaded." if result.loaded_now
                                           else "already loaded (reused from the data folder)."),
        "Logins (all made up):",
        f"  operator      {result.operator_email}  {operator_password}",
        f"  school admin  {ADMIN[0]}  {ADMIN[1]}",
        f"  parent        {PARENT[0]}  {PARENT[1]}",
        f"                {VERIFIED_CHILD[1]} is confirmed; confirm {PENDING_CHILD[1]} "
        f"with the date of birth {born} (three wrong answers lock the link)",
        f"  student       {STUDENT[0]}  {STUDENT[1]}",
        "Staff sign in in two steps: add these authenticator keys to an app (TOTP, "
        "e.g. FreeOTP), or run python -c \"import pyotp; print(pyotp.TOTP('KEY').now())\":",
        *(f"  {email}  {key}" for email, key in sorted(result.authenticator_keys.items())),
    ])


def load_demo(wsgi_app: WsgiApp, data_dir: Path, settle: Callable[[], object],
              operator: tuple[str, str], operator_password_shown: bool) -> DemoResult:
    loader = DemoLoader(wsgi_app, data_dir, settle, operator)
    school_id = loader.load()
    return DemoResult(school_id=school_id, operator_email=operator[0],
                      operator_password=operator[1] if operator_password_shown else None,
                      loaded_now=loader.loaded_now,
                      authenticator_keys={email: entry["key"] for email, entry
                                          in loader.authenticators.known.items()})
