"""An erasure as a school makes it, end to end through a gateway, and a scan of every store
for what it must have removed (issue 21: "erasure leaves nothing anywhere").

The journey uses only the public API and the mail folder (PP_DATA_DIR/mail), so the same
one runs on embedded mode (SQLite) and on the local stack (PostgreSQL). The scans read
every cell of every table of every service database, and the raw bytes of every file under
PP_DATA_DIR (SQLite files with their write-ahead logs, mail files decoded too).
"""
from __future__ import annotations

import datetime as dt
import decimal
import email
import email.policy
import io
import json
import re
import sqlite3
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import requests

from tests import second_factor
from tests.support import wait_for

PERIOD = "Autumn 2026"


@dataclass(frozen=True)
class Person:
    """A student with an account: a name, an email and a date of birth, in the forms the
    system stores them (the name whole and in parts, the email lower case, the date ISO)."""
    source_id: str
    given: str
    family: str
    email: str
    date_of_birth: str

    @property
    def needles(self) -> tuple[str, ...]:
        return (self.given, self.family, self.email, self.date_of_birth)


# Each needle holds a letter or digit pattern no key, token or id would (a random base64 key
# holding "Zephyrine" is out of reach; dates carry dashes base64 never has).
ERASED = Person("S1", "Zephyrine", "Quarleston", "zephyrine.quarleston@example.org",
                "2013-11-07")
CONTROL = Person("S2", "Octavia", "Brennanova", "octavia.brennanova@example.org",
                 "2014-02-19")


class Api:
    def __init__(self, base: str, mail_dir: Path):
        self.base, self.mail_dir = base.rstrip("/"), mail_dir
        self.http = requests.Session()

    def call(self, method: str, path: str, token: str | None = None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.base + path, headers=headers, timeout=60,
                                 **kwargs)

    def ok(self, method: str, path: str, token: str | None = None, status: int = 200,
           **kwargs):
        answer = self.call(method, path, token, **kwargs)
        assert answer.status_code == status, (method, path, answer.status_code, answer.text)
        return answer

    def sign_in(self, address: str, password: str) -> str:
        """The access token; a staff or operator one passed the second factor."""
        answer = self.ok("post", "/api/v1/auth/token", json={
            "grant_type": "password", "email": address, "password": password}).json()

        def post(path: str, body: dict, token: str) -> dict:
            return self.ok("post", path, token, status=self._created(path),
                           json=body).json()
        return second_factor.complete(post, answer)["access_token"]

    @staticmethod
    def _created(path: str) -> int:
        return 201 if path.endswith("/second-factor/totp") else 200

    def mail_texts(self, to: str) -> list[str]:
        texts = []
        for path in sorted(self.mail_dir.glob("*.eml"), key=lambda p: p.stat().st_mtime):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if to in message["To"]:
                texts.append("\n".join(part.get_content() for part in message.walk()
                                       if part.get_content_type() == "text/plain"))
        return texts

    def activate(self, address: str, password: str) -> str:
        body = wait_for(lambda: self.mail_texts(address)[-1:], timeout=60, interval=0.2,
                        message=f"the invitation to {address}")[0]
        token = re.search(r"activate\?token=([A-Za-z0-9_%-]+)", body).group(1)
        self.ok("post", "/api/v1/auth/activate", json={
            "token": requests.utils.unquote(token), "password": password})
        return self.sign_in(address, password)


def student_event(person: Person) -> dict:
    return {"type": "student.upserted", "source_id": person.source_id, "data": {
        "given_name": person.given, "family_name": person.family,
        "date_of_birth": person.date_of_birth, "form_group": "7A", "year_group": 7,
        "email": person.email}}


def request_done(api: Api, admin: str, request_id: str) -> dict:
    def done():
        view = api.ok("get", f"/api/v1/subject-requests/{request_id}", admin).json()
        assert view["status"] not in ("failed", "refused"), view
        return view if view["status"] == "completed" else None
    return wait_for(done, timeout=120, interval=0.3, message="the request to complete")


def file_request(api: Api, admin: str, kind: str, subject_id: str, note: str) -> dict:
    return api.ok("post", "/api/v1/subject-requests", admin, status=201, json={
        "kind": kind, "subject": {"type": "student", "id": subject_id},
        "details": {"note": note}}).json()


@dataclass
class Erased:
    admin: str
    erased_export: str  # the access request made before the erasure
    control_export: str


def erase_a_student(api: Api, operator_login: tuple[str, str], tag: str) -> Erased:
    """A school with student accounts; two students with their own logins (ERASED and
    CONTROL), a parent of the erased one who confirmed the child and got a report mail, a
    published report naming both; an access export of each, with a note naming them; then
    the erasure of ERASED (with a note naming them) to completion."""
    return erase(api, prepare_a_school(api, operator_login, tag))


@dataclass
class Prepared:
    admin: str
    erased_id: str
    exports: dict  # Person -> the access request made about them


def prepare_a_school(api: Api, operator_login: tuple[str, str], tag: str) -> Prepared:
    """Everything erase_a_student does before the erasure itself."""
    operator = api.sign_in(*operator_login)
    school = api.ok("post", "/api/v1/schools", operator, status=201,
                    json={"name": f"Erasure School {tag}"}).json()["id"]
    api.ok("patch", f"/api/v1/schools/{school}", operator, json={"student_accounts": True})
    admin_email = f"head-{tag}@erasure.example"
    api.ok("post", f"/api/v1/schools/{school}/staff", operator, status=201, json={
        "name": "Head Teacher", "email": admin_email, "role": "school_admin"})
    admin = api.activate(admin_email, "an-admin-password-1")
    client = api.ok("post", f"/api/v1/schools/{school}/clients", operator, status=201).json()
    system = api.ok("post", "/api/v1/auth/token", json={
        "grant_type": "client_credentials", **client}).json()["access_token"]
    parent_email = f"morgan-{tag}@home.example"
    pushed = api.ok("post", "/api/v1/school-data/batches", system, status=202, json={
        "batch_id": f"erasure-{tag}", "events": [
            {"type": "staff.upserted", "source_id": "T1", "data": {
                "title": "Ms", "given_name": "Jo", "family_name": "Khan"}},
            student_event(ERASED), student_event(CONTROL),
            {"type": "guardian.upserted", "source_id": "G1", "data": {
                "given_name": "Morgan", "family_name": "Vale", "email": parent_email,
                "students": [{"student_id": ERASED.source_id, "relationship": "mother",
                              "receives_reports": True}]}},
            {"type": "class.upserted", "source_id": "C1", "data": {
                "name": "7A Maths", "subject": "Maths", "teacher_ids": ["T1"],
                "student_ids": [ERASED.source_id, CONTROL.source_id]}},
            *({"type": "attainment.recorded", "source_id": f"A-{p.source_id}", "data": {
                "student_id": p.source_id, "class_id": "C1", "period": PERIOD,
                "kind": "mark", "value": "42", "out_of": 50}} for p in (ERASED, CONTROL))]})
    assert not pushed.json()["rejected"], pushed.text
    for person in (ERASED, CONTROL):  # each student accepts their own invitation
        api.activate(person.email, "a-student-password-1")
    parent = api.activate(parent_email, "a-parent-password-1")
    link = wait_for(lambda: api.ok("get", "/api/v1/links", parent).json()["items"],
                    timeout=60, interval=0.3, message="the parent's link")[0]
    api.ok("post", f"/api/v1/links/{link['id']}/verify", parent,
           json={"date_of_birth": ERASED.date_of_birth})
    erased_id = link["student"]["id"]
    students = api.ok("get", "/api/v1/links/students", admin,
                      params={"name": CONTROL.given}).json()["items"]
    control_id = students[0]["id"]

    def mailed() -> bool:
        """Published (both students' reports), and mailed to the parent: notifications may
        hear of the confirmed link after a publish, so a publish is made again (a new
        version) until the mail comes."""
        if any("published a new report" in t for t in api.mail_texts(parent_email)):
            return True
        answer = api.ok("post", "/api/v1/reports/publish", admin, status=202,
                        json={"period": PERIOD, "title": "Autumn report"})
        assert answer.json()["published"] in (0, 2), answer.text
        return False
    wait_for(mailed, timeout=90, interval=2, message="a report mailed to the parent")

    exports = {}
    for person, subject_id in ((ERASED, erased_id), (CONTROL, control_id)):
        request = file_request(api, admin, "access", subject_id,
                               f"{person.given} {person.family} ({person.date_of_birth}, "
                               f"{person.email}) asked for her data by letter.")
        request_done(api, admin, request["id"])
        archive = api.ok("get", f"/api/v1/subject-requests/{request['id']}/export", admin)
        text = zipfile.ZipFile(io.BytesIO(archive.content)).read("export.json").decode()
        assert all(n in text for n in person.needles), "the export holds the person"
        exports[person] = request["id"]
    return Prepared(admin, erased_id, exports)


def erase(api: Api, prepared: Prepared) -> Erased:
    """The erasure of ERASED, with a note naming her, to completion."""
    admin, erased_id, exports = prepared.admin, prepared.erased_id, prepared.exports
    erasure = file_request(api, admin, "erasure", erased_id,
                           f"{ERASED.given} {ERASED.family} ({ERASED.date_of_birth}, "
                           f"{ERASED.email}) left the school; her mother asked us to "
                           "erase her.")
    request_done(api, admin, erasure["id"])
    return Erased(admin, exports[ERASED], exports[CONTROL])


def check_exports_after(api: Api, erased: Erased) -> None:
    """The export made before the erasure is refused; the other person's still answers."""
    gone = api.call("get", f"/api/v1/subject-requests/{erased.erased_export}/export",
                    erased.admin)
    assert gone.status_code == 404, gone.status_code
    view = api.ok("get", f"/api/v1/subject-requests/{erased.erased_export}",
                  erased.admin).json()
    assert view["export_available"] is False and "note" not in view["details"]
    api.ok("get", f"/api/v1/subject-requests/{erased.control_export}/export", erased.admin)


# --- scanning ----------------------------------------------------------------------------
def _text(value) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("latin-1")
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, (dt.date, dt.datetime, decimal.Decimal)):
        return str(value)
    return "" if value is None else str(value)


def scan_rows(where: str, tables: Iterable[tuple[str, Iterable[tuple]]],
              needles: Iterable[str]) -> set[tuple[str, str]]:
    """(needle, "where.table") for every needle found in any cell of these tables."""
    needles = tuple(needles)
    found = set()
    for table, rows in tables:
        for row in rows:
            for value in row:
                text = _text(value)
                found |= {(n, f"{where}.{table}") for n in needles if n in text}
    return found


def sqlite_tables(path: Path):
    """Every table of a SQLite file, read while the system runs (read-only: no checkpoint
    of ours moves the write-ahead log)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")]
        return [(name, conn.execute(f'SELECT * FROM "{name}"').fetchall()) for name in names]
    finally:
        conn.close()


def scan_sqlite_cells(data_dir: Path, needles) -> set[tuple[str, str]]:
    found = set()
    for path in sorted(data_dir.glob("*.db")):
        found |= scan_rows(path.stem, sqlite_tables(path), needles)
    return found


def postgres_tables(url: str):
    import psycopg
    with psycopg.connect(url) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='public' "
            "AND table_type='BASE TABLE'")]
        return [(name, conn.execute(f'SELECT * FROM "{name}"').fetchall()) for name in names]


def scan_postgres_cells(urls: dict[str, str], needles) -> set[tuple[str, str]]:
    found = set()
    for service, url in urls.items():
        found |= scan_rows(service, postgres_tables(url), needles)
    return found


def scan_files(data_dir: Path, needles) -> set[tuple[str, str]]:
    """Every file's raw bytes (SQLite files, their -wal and -shm, keys, mail), and each mail
    decoded too (a quoted-printable line break cannot hide a name)."""
    found = set()
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        texts = [raw.decode("latin-1")]
        if path.suffix == ".eml":
            message = email.message_from_bytes(raw, policy=email.policy.default)
            texts += [str(message["To"])] + [part.get_content() for part in message.walk()
                                             if not part.is_multipart()]
        where = str(path.relative_to(data_dir))
        found |= {(n, where) for n in needles for t in texts if n in t}
    return found


def assert_erased_everywhere(scan: Callable[[Iterable[str]], set[tuple[str, str]]],
                             kinds: Callable[[str], str]) -> dict[str, set[str]]:
    """No needle of the erased person anywhere (waiting a little: the last answers and the
    purges after them may still be on their way); every needle of the control person found
    in the kinds of store the scan covers: the control's needles by kind (`kinds` names the
    kind of a place), for the caller to check (so the scan itself is proven to see)."""
    leftovers: set = set()

    def clean() -> bool:
        nonlocal leftovers
        leftovers = scan(ERASED.needles)
        return not leftovers
    try:
        wait_for(clean, timeout=30, interval=0.5, message="the erased person gone")
    except AssertionError:
        raise AssertionError(f"the erased person is still in: {sorted(leftovers)}") from None
    control = scan(CONTROL.needles)
    by_kind: dict[str, set[str]] = {}
    for needle, where in control:
        by_kind.setdefault(kinds(where), set()).add(needle)
    return by_kind
