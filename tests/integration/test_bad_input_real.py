"""Bad input by hand, on real PostgreSQL (issue "Hardening").

Each service runs in-process on a database of its own. Every hostile value carries a
marker string; after each refusal the whole database is scanned for the marker (every row
of every table, as text) and every table's row count is compared with before, so "nothing
stored" covers the outbox and bookkeeping tables too. SQL-looking text that is valid text
(a name with a quote) may be accepted: then it must come back exactly as sent and every
table must still be there.
"""
from __future__ import annotations

import io
import json
import uuid
from dataclasses import replace

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.ingest.schemas import MAX_BATCH_BYTES
from shared.auth import TokenSigner, TokenVerifier, key_id
from shared.messaging.consumer import APPLIED, DeliveryProcessor
from shared.messaging.envelope import new_envelope
from shared.service import ServiceRuntime
from tests import second_factor
from shared.web import MAX_JSON_BYTES
from tests.support import ungathered

pytestmark = pytest.mark.integration

OPERATOR = ("bad-input-operator@example.org", "bad-input-operator-1")
SQL = ("x'; DROP TABLE students; --", "1 OR 1=1", "Robert'); DROP TABLE students;--",
       "O'Brien\" OR \"\"=\"")
BAD_DATES = ("2023-02-29", "0000-01-01")


def marker() -> str:
    return f"mk{uuid.uuid4().hex[:16]}"


def hostile_text(mark: str) -> dict[str, str]:
    """Text no field may take: a NUL, a right-to-left override, a line break."""
    return {"nul": f"Ann{mark}\x00", "rlo": f"Ann\u202e{mark}", "crlf": f"Ann{mark}\r\nX: 1"}


def hostile_emails(mark: str) -> dict[str, str]:
    return {"crlf": f"{mark}@example.org\r\nBcc: victim@example.org",
            "lf": f"{mark}@example.org\nBcc: victim@example.org",
            "nul": f"{mark}@example.org\x00", "rlo": f"{mark}\u202e@example.org",
            "tab": f'"{mark}\\\t"@example.org'}  # a quoted local part may hold a TAB


# --- one service on its own database -------------------------------------------------------
class Service:
    def __init__(self, name, settings, tmp_path, database_url):
        import importlib
        self.name = name
        settings = replace(settings, data_dir=tmp_path,
                           database_urls={**settings.database_urls, name: database_url},
                           bootstrap_operator_email=OPERATOR[0],
                           bootstrap_operator_password=OPERATOR[1])
        self.rt = ServiceRuntime(importlib.import_module(f"services.{name}.app").SPEC,
                                 settings)
        self.rt.start()
        self.signer = None
        if name != "identity":  # identity verifies from its own key ring: real sign-in
            key = Ed25519PrivateKey.generate()
            self.rt.verifier = TokenVerifier(lambda: {key_id(key.public_key()):
                                                      key.public_key()})
            self.signer = TokenSigner(key)
        self.client = self.rt.create_app().test_client()
        self.engine = self.rt.engine

    def token(self, role: str, *schools: str, account: str | None = None) -> str:
        if self.name == "identity":
            assert role == "operator"
            response = self.client.post("/api/v1/auth/token", json={
                "grant_type": "password", "email": OPERATOR[0], "password": OPERATOR[1]})
            assert response.status_code == 200, response.json
            return second_factor.complete(second_factor.flask_post(self.client),
                                          response.json)["access_token"]
        return self.signer.issue(account or str(uuid.uuid4()), role, list(schools),
                                  **second_factor.passed_claims())

    def call(self, method, path, token=None, body=None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            kwargs["json"] = body
        return getattr(self.client, method)(path, headers=headers, **kwargs)

    def deliver(self, *envelopes) -> None:
        """Events into the service through its real consumer path (no broker needed)."""
        handlers = {t: h for channel in self.rt.handlers_by_channel().values()
                    for t, h in channel.items()}
        processor = DeliveryProcessor(self.name, f"{self.name}.test", self.rt.context.sessions,
                                      self.rt.spec.tables, handlers, 3)
        for envelope in envelopes:
            assert processor.process(envelope.to_json()) == APPLIED, envelope.type

    # --- what the database holds -----------------------------------------------------------
    def tables(self) -> set[str]:
        return set(sa.inspect(self.engine).get_table_names())

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one()
                    for t in sorted(self.tables())}

    def holding(self, mark: str) -> list[str]:
        """Tables with a row whose text (any column, JSON included) holds `mark`."""
        with self.engine.connect() as conn:
            return [t for t in sorted(self.tables()) if conn.execute(sa.text(
                f'SELECT count(*) FROM "{t}" AS r WHERE strpos(r::text, :m) > 0'),
                {"m": mark}).scalar_one()]

    def outbox(self, event_type: str) -> list[dict]:
        with self.engine.connect() as conn:
            envelopes = [json.loads(p) for p in conn.execute(sa.text(
                "SELECT payload FROM outbox ORDER BY seq")).scalars()]
        return [e["data"] for e in ungathered(envelopes) if e["type"] == event_type]


@pytest.fixture
def start(new_database, broker_settings, tmp_path):
    made = []

    def make(name: str) -> Service:
        service = Service(name, broker_settings, tmp_path / name, new_database(name))
        made.append(service)
        return service
    yield make
    for service in made:
        service.engine.dispose()


def assert_error(response, status: int, *codes: str) -> dict:
    """A clean 4xx in the one JSON error shape; the error object."""
    assert response.status_code == status, (response.status_code, response.get_data()[:300])
    assert response.is_json, response.get_data()[:300]
    body = response.get_json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str), error
    assert "fields" not in error or isinstance(error["fields"], dict), error
    if codes:
        assert error["code"] in codes, error
    return error


def names_field(error: dict, field: str) -> bool:
    """The error's `fields` point at `field` (dotted, as the guard or webargs name it)."""
    found = error.get("fields") or {}
    head, _, rest = field.partition(".")
    if field in found:
        return True
    return head in found and (not rest or isinstance(found[head], (dict, list)))


def refused_and_unstored(service: Service, before: dict[str, int], mark: str | None,
                         response, field: str) -> None:
    """A 422 naming `field`; no table holds `mark`; no table has a row more or less."""
    error = assert_error(response, 422, "invalid_characters", "validation_failed")
    assert names_field(error, field), (field, error)
    if mark is not None:
        assert mark not in json.dumps(error)  # the bad value is not echoed back
        assert service.holding(mark) == [], (field, service.holding(mark))
    assert service.counts() == before, field


def with_value(body: dict, path: str, value) -> dict:
    """A deep copy of `body` with the dotted `path` set to `value`."""
    copy = json.loads(json.dumps(body))
    target = copy
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return copy


# --- shared guards, for a JSON endpoint of every service -----------------------------------
SCHOOL = str(uuid.uuid4())
JSON_ENDPOINTS = {  # service -> (method, path, role)
    "identity": ("post", "/api/v1/schools", "operator"),
    "ingest": ("put", "/api/v1/school-data/oneroster/settings", "school_admin"),
    "linking": ("post", f"/api/v1/links/{uuid.uuid4()}/verify", "parent"),
    "reports": ("post", "/api/v1/reports/publish", "school_admin"),
    "notifications": ("put", "/api/v1/notification-preferences", "parent"),
    "dsar": ("post", "/api/v1/subject-requests", "school_admin"),
}


@pytest.mark.parametrize("name", sorted(JSON_ENDPOINTS))
def test_a_body_over_the_limit_is_refused_before_it_is_parsed(name, start):
    service = start(name)
    method, path, role = JSON_ENDPOINTS[name]
    token = service.token(role, SCHOOL)
    before, mark = service.counts(), marker()
    # Invalid JSON as well: parsed, it would be a 400 malformed_json (the control below).
    unparsable = b'{"name": "' + mark.encode() + b"A" * (2 * 1024 * 1024)
    response = service.call(method, path, token, data=unparsable,
                            content_type="application/json")
    assert_error(response, 413, "payload_too_large")
    small = service.call(method, path, token, data=unparsable[:1000],
                         content_type="application/json")
    assert_error(small, 400, "malformed_json")
    # Streamed (chunked, no Content-Length): valid JSON up to the limit, more after it.
    # Cut at the limit it would parse; it must be refused instead.
    head = b'{"report_emails": false, "name": "' + mark.encode() + b'"}'
    streamed = head + b" " * (MAX_JSON_BYTES - len(head)) + b"and then some"
    response = service.call(method, path, token, input_stream=io.BytesIO(streamed),
                            content_type="application/json",
                            headers={"Transfer-Encoding": "chunked"},
                            environ_overrides={"wsgi.input_terminated": True})
    assert_error(response, 413, "payload_too_large")
    assert service.holding(mark) == [] and service.counts() == before


def test_a_batch_over_its_own_limit_is_refused_before_it_is_parsed(start):
    service = start("ingest")
    token = service.token("school_system", SCHOOL)
    before, mark = service.counts(), marker()
    body = b'{"batch_id": "' + mark.encode() + b'", "events": [' + b" " * MAX_BATCH_BYTES
    response = service.call("post", "/api/v1/school-data/batches", token, data=body,
                            content_type="application/json")
    assert_error(response, 413, "payload_too_large")
    # A caller without a token is refused before the body is read at all.
    anonymous = service.call("post", "/api/v1/school-data/batches", data=body,
                             content_type="application/json")
    assert_error(anonymous, 401, "unauthorized")
    assert service.holding(mark) == [] and service.counts() == before


DEEP = {"arrays": "[" * 10_000 + "]" * 10_000,
        "objects": '{"a":' * 10_000 + "1" + "}" * 10_000,
        "just over the limit": '{"name":' + "[" * 33 + "]" * 33 + "}"}


@pytest.mark.parametrize("name", sorted(JSON_ENDPOINTS))
def test_json_nested_ten_thousand_deep_is_refused(name, start):
    service = start(name)
    method, path, role = JSON_ENDPOINTS[name]
    token = service.token(role, SCHOOL)
    before = service.counts()
    for body in DEEP.values():
        response = service.call(method, path, token, data=body,
                                content_type="application/json")
        assert_error(response, 400, "too_deep")
    if name == "ingest":  # the batch endpoint, whose body is checked event by event
        for body in DEEP.values():
            response = service.call("post", "/api/v1/school-data/batches",
                                    service.token("school_system", SCHOOL), data=body,
                                    content_type="application/json")
            assert_error(response, 400, "too_deep")
    assert service.counts() == before


# --- identity: school creation and staff invitation ----------------------------------------
def test_identity_school_creation_refuses_bad_text_and_dates(start):
    service = start("identity")
    token = service.token("operator")
    good = {"name": "Hill School", "student_accounts": False,
            "authorisation": {"reference": "DPA-1", "authorised_by": "Head",
                              "date": "2024-02-29"}}
    before = service.counts()
    for field in ("name", "authorisation.reference", "authorisation.authorised_by"):
        for _kind, value in hostile_text(mark := marker()).items():
            response = service.call("post", "/api/v1/schools", token,
                                    with_value(good, field, value))
            refused_and_unstored(service, before, mark, response, field)
    for date in BAD_DATES:
        response = service.call("post", "/api/v1/schools", token,
                                with_value(good, "authorisation.date", date))
        refused_and_unstored(service, before, date, response, "authorisation.date")
    for value in (1, "yes", "1 OR 1=1"):  # a boolean is true or false, nothing else
        response = service.call("post", "/api/v1/schools", token,
                                with_value(good, "student_accounts", value))
        refused_and_unstored(service, before, None, response, "student_accounts")
    response = service.call("post", "/api/v1/schools", token, good)
    assert response.status_code == 201, response.json  # the good body itself is fine


def test_identity_staff_invitation_refuses_bad_text_and_emails(start):
    service = start("identity")
    token = service.token("operator")
    school = service.call("post", "/api/v1/schools", token, {"name": "Hill School"}).json["id"]
    path = f"/api/v1/schools/{school}/staff"
    good = {"name": "Ann Head", "email": "ann@example.org", "role": "school_admin"}
    before = service.counts()
    for _kind, value in hostile_text(mark := marker()).items():
        refused_and_unstored(service, before, mark,
                             service.call("post", path, token, with_value(good, "name", value)),
                             "name")
    for _kind, value in hostile_emails(mark := marker()).items():
        refused_and_unstored(service, before, mark, service.call(
            "post", path, token, with_value(good, "email", value)), "email")
    for value in SQL:
        refused_and_unstored(service, before, None, service.call(
            "post", path, token, with_value(good, "role", value)), "role")
        refused_and_unstored(service, before, None, service.call(
            "post", path, token, with_value(good, "email", value)), "email")
    # A CRLF in the email of a password reset: the same answer as ever, and no mail.
    for value in hostile_emails(mark := marker()).values():
        response = service.call("post", "/api/v1/auth/password-reset", body={"email": value})
        if response.status_code != 202:
            assert_error(response, 422, "invalid_characters", "validation_failed")
        assert service.holding(mark) == [] and service.counts() == before
    assert service.call("post", path, token, good).status_code == 201


def test_identity_keeps_sql_looking_text_verbatim(start):
    service = start("identity")
    token = service.token("operator")
    tables = service.tables()
    assert "students" in tables
    for value in SQL:
        response = service.call("post", "/api/v1/schools", token, {
            "name": value, "authorisation": {"reference": value, "authorised_by": value,
                                             "date": "2024-02-29"}})
        assert response.status_code == 201, response.json
        school = response.json["id"]
        email = f"o'brien+{uuid.uuid4().hex[:6]}@example.org"  # a quote is a valid address
        invited = service.call("post", f"/api/v1/schools/{school}/staff", token,
                               {"name": value, "email": email, "role": "school_admin"})
        assert invited.status_code == 201, invited.json
        with service.engine.connect() as conn:
            row = conn.execute(sa.text("SELECT name, authorisation_reference, authorised_by "
                                       "FROM schools WHERE id = :i"), {"i": school}).one()
            account = conn.execute(sa.text(  # the name the school recorded, the login
                "SELECT m.name, a.email FROM memberships m JOIN accounts a ON "
                "a.id = m.account_id WHERE a.id = :i AND m.school_id = :s"),
                {"i": invited.json["id"], "s": school}).one()
        assert tuple(row) == (value, value, value)
        assert tuple(account) == (value, email)
        assert any(e["school_id"] == school and e["name"] == value
                   for e in service.outbox("SchoolActivated"))
        renamed = service.call("patch", f"/api/v1/schools/{school}", token, {"name": value})
        assert renamed.status_code == 200 and renamed.json["name"] == value
    assert service.tables() == tables
    assert service.counts()["schools"] == len(SQL)  # one each: no row more, none less


# --- ingest: each bad event refused by its index -------------------------------------------
def school_events(tag: str = "", **text) -> list[dict]:
    """A student, a guardian, a member of staff, a class and a result, all valid, their
    text fields (and source ids) set from `text` where named."""
    t = {"student_id": f"S{tag}", "guardian_id": f"G{tag}", "staff_id": f"T{tag}",
         "class_id": f"C{tag}", "given_name": "Ann", "family_name": "Smith",
         "form_group": "7A", "title": "Ms", "relationship": "mother", "class_name": "7A Maths",
         "subject": "Maths", "period": "Autumn", "value": "B", "topic": "Fractions",
         "attainment_id": f"R{tag}", **text}
    return [
        {"type": "student.upserted", "source_id": t["student_id"], "data": {
            "given_name": t["given_name"], "family_name": t["family_name"],
            "date_of_birth": "2015-03-02", "form_group": t["form_group"], "year_group": 7,
            "email": f"ann{tag}@example.org"}},
        {"type": "guardian.upserted", "source_id": t["guardian_id"], "data": {
            "given_name": t["given_name"], "family_name": t["family_name"],
            "email": f"pat{tag}@example.org", "students": [{
                "student_id": t["student_id"], "relationship": t["relationship"],
                "receives_reports": True}]}},
        {"type": "staff.upserted", "source_id": t["staff_id"], "data": {
            "title": t["title"], "given_name": t["given_name"],
            "family_name": t["family_name"], "email": f"teach{tag}@example.org"}},
        {"type": "class.upserted", "source_id": t["class_id"], "data": {
            "name": t["class_name"], "subject": t["subject"], "teacher_ids": [t["staff_id"]],
            "student_ids": [t["student_id"]]}},
        {"type": "attainment.recorded", "source_id": t["attainment_id"], "data": {
            "student_id": t["student_id"], "class_id": t["class_id"], "period": t["period"],
            "kind": "grade", "value": t["value"], "topic": t["topic"]}},
    ]


STRING_FIELDS = {  # index in school_events() -> its string fields
    0: ("source_id", "data.given_name", "data.family_name", "data.form_group",
        "data.email"),
    1: ("source_id", "data.given_name", "data.family_name", "data.email",
        "data.students.0.student_id", "data.students.0.relationship"),
    2: ("source_id", "data.title", "data.given_name", "data.family_name", "data.email"),
    3: ("source_id", "data.name", "data.subject", "data.teacher_ids.0",
        "data.student_ids.0"),
    4: ("source_id", "data.student_id", "data.class_id", "data.period", "data.value",
        "data.topic"),
}


def test_ingest_rejects_each_bad_event_by_its_index_and_stores_none(start):
    service = start("ingest")
    token = service.token("school_system", SCHOOL)
    base = school_events()
    mark = marker()
    bad: list[tuple[str, dict]] = []  # (the field at fault, the event)
    for index, fields in STRING_FIELDS.items():
        for field in fields:
            values = [*hostile_text(mark).values()]
            if field.endswith("email"):  # and SQL is no address
                values = [*hostile_emails(mark).values(), *SQL]
            bad += [(field, with_value(base[index], field, v)) for v in values]
    bad += [("data.date_of_birth", with_value(base[0], "data.date_of_birth", date))
            for date in BAD_DATES]
    bad.append(("data.kind", with_value(base[4], "data.kind", SQL[0])))  # not a kind
    bad.append(("data.year_group", with_value(base[0], "data.year_group", SQL[1])))
    before = service.counts()
    good = {"type": "staff.upserted", "source_id": "T-good", "data": {
        "title": "Mr", "given_name": "Ben", "family_name": "Jones"}}
    response = service.call("post", "/api/v1/school-data/batches", token, {
        "batch_id": "mixed", "events": [good, *(event for _, event in bad)]})
    assert response.status_code == 202, response.json
    result = response.json
    assert [r["index"] for r in result["rejected"]] == list(range(1, len(bad) + 1))
    assert result["accepted"] == 1
    reasons = json.dumps(result["rejected"])
    assert mark not in reasons and "2023-02-29" not in reasons  # never the value itself
    for rejected, (field, _) in zip(result["rejected"], bad):
        assert rejected["error"].startswith(f"{field}:"), (field, rejected)
    after = service.counts()
    assert service.holding(mark) == []  # not in the outbox, the records or the batch row
    assert after["records"] == before["records"] + 1  # the good member of staff only
    assert after["outbox"] == before["outbox"] + 1   # its StaffRecorded only
    assert [e["given_name"] for e in service.outbox("StaffRecorded")] == ["Ben"]
    # Every event of a batch bad: nothing applied at all.
    before = service.counts()
    response = service.call("post", "/api/v1/school-data/batches", token, {
        "batch_id": "all-bad", "events": [event for _, event in bad]})
    assert response.status_code == 202 and response.json["accepted"] == 0
    assert len(response.json["rejected"]) == len(bad)
    after = service.counts()
    assert {t: n for t, n in after.items() if t != "batches"} == {
        t: n for t, n in before.items() if t != "batches"}
    assert after["batches"] == before["batches"] + 1  # the idempotency record, reasons only
    assert service.holding(mark) == []


def test_ingest_refuses_a_bad_batch_id_whole(start):
    service = start("ingest")
    token = service.token("school_system", SCHOOL)
    before = service.counts()
    for value in [*hostile_text(mark := marker()).values(), *SQL]:
        response = service.call("post", "/api/v1/school-data/batches", token, {
            "batch_id": value, "events": school_events()})
        refused_and_unstored(service, before, mark, response, "batch_id")


def test_ingest_keeps_sql_looking_text_verbatim(start):
    service = start("ingest")
    token = service.token("school_system", SCHOOL)
    tables = service.tables()
    for n, value in enumerate(SQL):
        text = {k: value for k in ("student_id", "guardian_id", "staff_id", "class_id",
                                   "given_name", "family_name", "relationship",
                                   "class_name", "subject", "period", "value", "topic",
                                   "attainment_id")}
        text["form_group"] = value[:50]
        text["title"] = value[:50]
        response = service.call("post", "/api/v1/school-data/batches", token, {
            "batch_id": f"sql-{n}", "events": school_events(str(n), **text)})
        assert response.status_code == 202, response.json
        assert response.json["rejected"] == [] and response.json["accepted"] == 5
    assert service.tables() == tables
    students = service.outbox("StudentRecorded")
    assert [(s["given_name"], s["family_name"]) for s in students] == [(v, v) for v in SQL]
    assert [g["given_name"] for g in service.outbox("GuardianRecorded")] == list(SQL)
    assert [s["title"] for s in service.outbox("StaffRecorded")] == [v[:50] for v in SQL]
    classes = service.outbox("ClassRecorded")
    assert [(c["name"], c["subject"]) for c in classes] == [(v, v) for v in SQL]
    results = service.outbox("AttainmentRecorded")
    assert [(r["period"], r["value"], r["topic"]) for r in results] == [
        (v, v[:50], v) for v in SQL]
    # The same SQL-looking source id means the same record, and distinct ones differ.
    for student, klass, result, links in zip(students, classes, results,
                                             service.outbox("GuardianStudentsRecorded")):
        assert klass["student_ids"] == [student["student_id"]] == [result["student_id"]]
        assert links["students"][0]["student_id"] == student["student_id"]
    assert len({s["student_id"] for s in students}) == len(SQL)
    with service.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM records")).scalar_one() == 5 * len(SQL)


# --- linking: verify -----------------------------------------------------------------------
def pending_link(service: Service) -> tuple[str, str]:
    """(parent token, link id) for a child born 2015-03-02, through linking's consumers."""
    student, guardian, account = (str(uuid.uuid4()) for _ in range(3))
    ingest = {"producer": "ingest", "school_id": SCHOOL}
    service.deliver(
        new_envelope("StudentRecorded", {"student_id": student, "given_name": "Ann",
                                         "family_name": "Smith", "record_version": 1},
                     **ingest),
        new_envelope("StudentBirthDateRecorded", {"student_id": student,
                                                  "date_of_birth": "2015-03-02",
                                                  "record_version": 1}, **ingest),
        new_envelope("GuardianStudentsRecorded", {"guardian_id": guardian, "students": [{
            "student_id": student, "relationship": "mother", "receives_reports": True}],
            "record_version": 1}, **ingest),
        new_envelope("AccountActivated", {"account_id": account, "role": "parent",
                                          "guardian_ids": [guardian]},
                     producer="identity", school_id=SCHOOL))
    token = service.token("parent", SCHOOL, account=account)
    (link,) = service.call("get", "/api/v1/links", token).json["items"]
    assert link["status"] == "pending"
    return token, link["id"]


def test_linking_refuses_bad_dates_without_counting_an_attempt(start):
    service = start("linking")
    token, link = pending_link(service)
    path = f"/api/v1/links/{link}/verify"
    before = service.counts()
    for value in (*BAD_DATES, *SQL, "2015-03-02' OR '1'='1", "2015-03-02\x00",
                  "2015-03-02\u202e", "2015-03-02\r\n", 20150302, "02/03/2015"):
        response = service.call("post", path, token, {"date_of_birth": value})
        error = assert_error(response, 422, "validation_failed", "invalid_characters")
        assert "attempts_left" not in error  # refused as input, not judged as an answer
        assert service.counts() == before
        with service.engine.connect() as conn:
            row = conn.execute(sa.text("SELECT status, failed_attempts FROM links WHERE "
                                       "id = :i"), {"i": link}).one()
        assert tuple(row) == ("pending", 0), value
    assert service.call("post", path, token, {"date_of_birth": "2015-03-02"}).json == {
        "status": "verified"}


# --- reports: publish ----------------------------------------------------------------------
def test_reports_publish_refuses_bad_text_and_dates(start):
    service = start("reports")
    token = service.token("school_admin", SCHOOL)
    good = {"period": "Autumn", "title": "Autumn report",
            "visible_from": "2028-02-29T09:00:00+00:00"}  # a leap day, ahead
    before = service.counts()
    for field in ("period", "title"):
        for _kind, value in hostile_text(mark := marker()).items():
            response = service.call("post", "/api/v1/reports/publish", token,
                                    with_value(good, field, value))
            refused_and_unstored(service, before, mark, response, field)
    for date in BAD_DATES:
        for value in (f"{date}T09:00:00+00:00", date):
            response = service.call("post", "/api/v1/reports/publish", token,
                                    with_value(good, "visible_from", value))
            refused_and_unstored(service, before, date, response, "visible_from")
    for value in SQL:
        for field in ("school_id", "visible_from"):
            response = service.call("post", "/api/v1/reports/publish", token,
                                    with_value(good, field, value))
            refused_and_unstored(service, before, None, response, field)
    assert service.call("post", "/api/v1/reports/publish", token, good).json == {
        "published": 0}


def test_reports_keep_sql_looking_text_verbatim(start):
    service = start("reports")
    token = service.token("school_admin", SCHOOL)
    tables = service.tables()
    ingest = {"producer": "ingest", "school_id": SCHOOL}
    for value in SQL:
        student, klass = str(uuid.uuid4()), str(uuid.uuid4())
        service.deliver(
            new_envelope("StudentRecorded", {"student_id": student, "given_name": value,
                                             "family_name": "Smith", "record_version": 1},
                         **ingest),
            new_envelope("ClassRecorded", {"class_id": klass, "name": value, "subject": value,
                                           "teacher_ids": [], "student_ids": [student],
                                           "record_version": 1}, **ingest),
            new_envelope("AttainmentRecorded", {
                "attainment_id": str(uuid.uuid4()), "student_id": student, "class_id": klass,
                "period": value, "kind": "grade", "value": value[:50], "topic": value,
                "record_version": 1}, **ingest))
        response = service.call("post", "/api/v1/reports/publish", token,
                                {"period": value, "title": value})
        assert response.status_code == 202 and response.json == {"published": 1}, value
        (item,) = service.call("get", f"/api/v1/students/{student}/reports", token
                               ).json["items"]
        assert (item["period"], item["title"]) == (value, value)
        report = service.call("get", f"/api/v1/reports/{item['id']}", token).json
        assert report["student"]["name"] == f"{value} Smith"
        (subject,) = report["subjects"]
        assert (subject["subject"], subject["class"]) == (value, value)
        assert subject["attainment"][0]["value"] == value[:50]
        assert subject["attainment"][0]["topic"] == value
    assert service.tables() == tables
    with service.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM reports")).scalar_one() == len(SQL)


# --- dsar: a subject request ---------------------------------------------------------------
def test_dsar_refuses_bad_text(start):
    service = start("dsar")
    token = service.token("school_admin", SCHOOL)
    good = {"kind": "erasure", "subject": {"type": "student", "source_id": "S1"},
            "details": {"note": "Asked by phone"}}
    before = service.counts()
    for field in ("subject.source_id", "details.note"):
        for _kind, value in hostile_text(mark := marker()).items():
            response = service.call("post", "/api/v1/subject-requests", token,
                                    with_value(good, field, value))
            refused_and_unstored(service, before, mark, response, field)
    for value in SQL:
        for field in ("kind", "subject.type", "subject.id", "school_id",
                      "details.processing"):
            response = service.call("post", "/api/v1/subject-requests", token,
                                    with_value(good, field, value))
            refused_and_unstored(service, before, None, response, field)
    assert service.call("post", "/api/v1/subject-requests", token, good).status_code == 201


def test_dsar_keeps_sql_looking_text_verbatim(start):
    service = start("dsar")
    token = service.token("school_admin", SCHOOL)
    tables = service.tables()
    for value in SQL:
        response = service.call("post", "/api/v1/subject-requests", token, {
            "kind": "erasure", "subject": {"type": "student", "source_id": value},
            "details": {"note": value}})
        assert response.status_code == 201, response.json
        assert response.json["details"]["note"] == value
        again = service.call("get", f"/api/v1/subject-requests/{response.json['id']}", token)
        assert again.json["details"]["note"] == value
    assert [e["source_id"] for e in service.outbox("SubjectIdRequested")] == list(SQL)
    assert service.tables() == tables
    assert service.counts()["requests"] == len(SQL)


# --- notifications: preferences and the privacy notice -------------------------------------
def test_notifications_preferences_take_true_or_false_only(start):
    service = start("notifications")
    token = service.token("parent", SCHOOL)
    before = service.counts()
    mark = marker()
    for value in (*SQL, 1, 0, "true", "yes", None, [], {}, f"false{mark}\x00",
                  f"\u202e{mark}"):
        response = service.call("put", "/api/v1/notification-preferences", token,
                                {"report_emails": value})
        refused_and_unstored(service, before, mark, response, "report_emails")
    for kind, value in hostile_text(mark).items():  # in a field it does not know
        response = service.call("put", "/api/v1/notification-preferences", token,
                                {"report_emails": False, kind: value})
        assert_error(response, 422, "invalid_characters", "validation_failed")
        assert service.holding(mark) == [] and service.counts() == before
    response = service.call("put", "/api/v1/notification-preferences", token,
                            {"report_emails": False})
    assert response.status_code == 200 and response.json == {"report_emails": False}


def test_notifications_privacy_notice_refuses_bad_text_and_dates(start):
    service = start("notifications")
    token = service.token("operator")
    service.deliver(new_envelope("InvitationIssued", {
        "invitation_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4()),
        "role": "school_admin", "name": "Ann Head", "email": "head@example.org",
        "token": "t" * 40, "expires_at": "2030-01-01T00:00:00+00:00"},
        producer="identity", school_id=SCHOOL))
    good = {"version": "2024-1", "effective_date": "2024-02-29", "text": "Our notice."}
    before = service.counts()
    for _kind, value in hostile_text(mark := marker()).items():
        response = service.call("post", "/api/v1/privacy-notices", token,
                                with_value(good, "version", value))
        refused_and_unstored(service, before, mark, response, "version")
    for date in BAD_DATES:
        response = service.call("post", "/api/v1/privacy-notices", token,
                                with_value(good, "effective_date", date))
        refused_and_unstored(service, before, date, response, "effective_date")
    tables = service.tables()
    for value in SQL:
        response = service.call("post", "/api/v1/privacy-notices", token,
                                {"version": value, "effective_date": "2024-02-29",
                                 "text": "Our notice."})
        assert response.status_code == 202 and response.json == {"notified": 1}
    with service.engine.connect() as conn:
        bodies = conn.execute(sa.text("SELECT body_text FROM deliveries WHERE kind = "
                                      "'privacy_notice'")).scalars().all()
    assert len(bodies) == len(SQL)
    assert all(any(value in body for body in bodies) for value in SQL)
    assert service.tables() == tables
