"""OneRoster bundles through ingest (SQLite, no relay: the events wait in the outbox)."""
import io
import json
import uuid
import zipfile
from collections import Counter
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.ingest import domain, oneroster
from services.ingest.app import SPEC
from shared.auth import TokenSigner, TokenVerifier, key_id
from shared.config import Settings
from shared.rights.participant import Subject
from shared.service import ServiceRuntime
from tests import second_factor
from tests.oneroster_sample import HEADERS, SampleSchool, zip_bundle
from tests.support import ungathered

SAMPLE = SampleSchool(students=40, classes=4)


class Ingest:
    def __init__(self, tmp_path):
        self.rt = ServiceRuntime(SPEC, Settings.from_env({"PP_DATA_DIR": str(tmp_path)}))
        self.rt.start()
        self.key = Ed25519PrivateKey.generate()
        self.rt.verifier = TokenVerifier(lambda: {key_id(self.key.public_key()):
                                                  self.key.public_key()})
        self.client = self.rt.create_app().test_client()

    def token(self, role: str, *schools: str) -> str:
        return TokenSigner(self.key).issue(str(uuid.uuid4()), role, list(schools),
                                           **second_factor.passed_claims())

    def upload(self, school: str, data: bytes, *, role="school_system", query=None):
        """The upload's answer: refused at once (422, …), or its job applied here as the
        worker would, its `result` as the answer (202)."""
        headers = {"Authorization": f"Bearer {self.token(role, school)}"}
        response = self.client.post("/api/v1/school-data/oneroster", data=data,
                                    content_type="application/zip", query_string=query,
                                    headers=headers)
        if response.status_code != 202:
            return response
        self.rt.context.use_cases.jobs.drain(self.rt.context.sessions)
        job = self.client.get(response.json["status_url"], headers=headers).json
        assert job["status"] == "applied", job
        return SimpleNamespace(status_code=202, json=job["result"])

    def set_roles(self, school: str, roles: list[str]):
        response = self.client.put("/api/v1/school-data/oneroster/settings",
                                   json={"report_contact_roles": roles}, headers={
                                       "Authorization":
                                       f"Bearer {self.token('school_admin', school)}"})
        assert response.status_code == 200, response.json

    def push(self, school: str, events: list[dict]):
        for start in range(0, len(events), 5000):
            response = self.client.post("/api/v1/school-data/batches", json={
                "batch_id": uuid.uuid4().hex, "events": events[start:start + 5000]},
                headers={"Authorization": f"Bearer {self.token('school_system', school)}"})
            assert response.status_code == 202 and not response.json["rejected"], response.json

    def events(self, school: str) -> list[dict]:
        with self.rt.engine.connect() as conn:
            return ungathered([json.loads(p) for p in conn.execute(sa.text(
                "SELECT payload FROM outbox WHERE school_id = :s ORDER BY seq"),
                {"s": school}).scalars()])

    def count(self, table: str, school: str) -> int:
        with self.rt.engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE school_id = :s"),
                                {"s": school}).scalar()

    def ids(self, school: str) -> dict[str, str]:
        """record id -> 'type:source id', for the sample's source ids."""
        wanted = {domain.source_key(school, t, row["sourcedId"]): f"{t}:{row['sourcedId']}"
                  for t, file in (("student", "users"), ("guardian", "users"),
                                  ("staff", "users"), ("class", "classes"),
                                  ("attainment", "results"))
                  for row in SAMPLE.tables[file]}
        with self.rt.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT source_key, id FROM records WHERE "
                                        "school_id = :s"), {"s": school}).all()
        return {row.id: wanted[row.source_key] for row in rows if row.source_key in wanted}


def normalised(events: list[dict], ids: dict[str, str]) -> Counter:
    """Events with record ids replaced by the school's source ids: comparable across schools."""
    def swap(value):
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items() if k != "record_version"}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return ids.get(value, value)
    return Counter(json.dumps([e["type"], swap(e["data"])], sort_keys=True) for e in events)


def _data(row) -> dict:
    return json.loads(row.data) if isinstance(row.data, str) else row.data


@pytest.fixture
def ingest(tmp_path):
    service = Ingest(tmp_path)
    yield service
    service.rt.engine.dispose()


def test_a_bundle_pushes_what_the_equivalent_json_batches_push(ingest):
    by_json, by_roster = str(uuid.uuid4()), str(uuid.uuid4())
    ingest.push(by_json, SAMPLE.json_events())
    ingest.set_roles(by_roster, ["parent", "guardian"])
    response = ingest.upload(by_roster, SAMPLE.bundle())
    assert response.status_code == 202, response.json
    assert response.json["rows"] == sum(len(rows) for rows in SAMPLE.tables.values())
    expected = normalised(ingest.events(by_json), ingest.ids(by_json))
    assert normalised(ingest.events(by_roster), ingest.ids(by_roster)) == expected
    types = Counter(e["type"] for e in ingest.events(by_roster))
    assert types["StudentBirthDateRecorded"] == 40 and types["GuardianRecorded"] == 40
    assert types["AttainmentRecorded"] == 40 * 3 * 2 and types["ClassRecorded"] == 4
    ignored = response.json["ignored"]  # the relatives, who receive nothing
    assert len([i for i in ignored if i["file"] == "users.csv"]) == 8
    # Held for deltas: people and relations used, no relatives, no scores.
    with ingest.rt.engine.connect() as conn:
        held = conn.execute(sa.text("SELECT file, sourced_id, data, subject_id FROM "
                                    "roster_rows WHERE school_id = :s"), {"s": by_roster}).all()
    relatives = [_data(r) for r in held if r.file == "users" and r.sourced_id.startswith("R0")]
    assert len(relatives) == 8  # held as stubs: links and role, no name or email
    assert all(r["given_name"] is r["family_name"] is r["email"] is None for r in relatives)
    assert all(_data(r) == {} for r in held if r.file == "results")
    assert all(r.subject_id for r in held if r.file in ("users", "demographics", "results")
               and not r.sourced_id.startswith("R0"))
    assert "sex" not in json.dumps([r.data for r in held])

    again = ingest.upload(by_roster, SAMPLE.bundle())  # the same bytes: the same job
    assert again.status_code == 202 and again.json == response.json
    assert len(ingest.events(by_roster)) == sum(expected.values())


def test_without_the_setting_no_contact_receives_reports_unless_the_row_says_so(ingest):
    school = str(uuid.uuid4())
    tables = {k: list(v) for k, v in SAMPLE.tables.items()}
    tables["users"] = [dict(u, **{"metadata.receivesReports": "true"})
                       if u["sourcedId"] == "P0001" else u for u in tables["users"]]
    response = ingest.upload(school, zip_bundle({k: ("bulk", v) for k, v in tables.items()}))
    assert response.status_code == 202, response.json
    guardians = [e for e in ingest.events(school) if e["type"] == "GuardianRecorded"]
    assert len(guardians) == 1 and guardians[0]["data"]["email"] == "p0001@home.example"
    default = ingest.client.get("/api/v1/school-data/oneroster/settings", headers={
        "Authorization": f"Bearer {ingest.token('school_admin', school)}"})
    assert default.json == {"report_contact_roles": [], "school_org_ids": []}


def test_a_delta_removes_a_tobedeleted_student_and_updates_a_changed_result(ingest):
    school = str(uuid.uuid4())
    ingest.set_roles(school, ["parent"])
    assert ingest.upload(school, SAMPLE.bundle()).status_code == 202
    before = len(ingest.events(school))
    result = next(r for r in SAMPLE.tables["results"] if r["studentSourcedId"] == "S0002")
    delta = zip_bundle({
        "users": ("delta", [dict(SAMPLE.user("S0001"), status="tobedeleted",
                                 dateLastModified="2026-10-01T08:00:00Z")]),
        "results": ("delta", [dict(result, score="49", dateLastModified="2026-10-01T08:00:00Z")]),
    })
    response = ingest.upload(school, delta)
    assert response.status_code == 202, response.json
    ids = {v: k for k, v in ingest.ids(school).items()}
    new = ingest.events(school)[before:]
    removed = [e for e in new if e["type"] == "StudentRemoved"]
    assert [e["data"]["student_id"] for e in removed] == [ids["student:S0001"]]
    # The parent of that child alone receives no reports now: removed too.
    assert [e["data"]["guardian_id"] for e in new if e["type"] == "GuardianRemoved"] == [
        ids["guardian:P0001"]]
    changed = [e["data"] for e in new if e["type"] == "AttainmentRecorded"]
    assert len(changed) == 1 and changed[0]["value"] == "49"
    assert changed[0]["attainment_id"] == ids[f"attainment:{result['sourcedId']}"]
    assert changed[0]["record_version"] == 2
    for event in (e for e in new if e["type"] == "ClassRecorded"):
        assert ids["student:S0001"] not in event["data"]["student_ids"]
    assert {e["type"] for e in new} == {"StudentRemoved", "GuardianRemoved",
                                        "AttainmentRecorded", "ClassRecorded"}

    # An older row than the one held is ignored; a result cannot be withdrawn.
    stale = zip_bundle({"results": ("delta", [
        dict(result, score="1", dateLastModified="2026-09-15T08:00:00Z")])})
    response = ingest.upload(school, stale)
    assert response.status_code == 202 and response.json["published"] == 0
    assert "Older" in response.json["ignored"][0]["error"]


def test_a_malformed_bundle_is_refused_row_by_row_and_changes_nothing(ingest):
    school = str(uuid.uuid4())
    tables = {k: [dict(r) for r in v] for k, v in SAMPLE.tables.items()}
    tables["demographics"][3]["birthDate"] = "2023-02-29"
    tables["enrollments"][7]["userSourcedId"] = "NOBODY"
    tables["users"][5]["email"] = "a@b.example\r\nBcc: x@y.example"
    response = ingest.upload(school, zip_bundle({k: ("bulk", v) for k, v in tables.items()}))
    assert response.status_code == 422 and response.json["error"]["code"] == "invalid_bundle"
    rows = {(r["file"], r["line"]): r["error"] for r in response.json["error"]["rows"]}
    assert set(rows) == {("demographics.csv", 5), ("enrollments.csv", 9), ("users.csv", 7)}
    assert rows[("demographics.csv", 5)].startswith("birthDate:")
    assert "NOBODY" in rows[("enrollments.csv", 9)]
    assert rows[("users.csv", 7)].startswith("email:")
    assert "2023-02-29" not in json.dumps(response.json)  # reasons, never values

    without_column = zip_bundle({k: ("bulk", v) for k, v in SAMPLE.tables.items()},
                                headers={"classes": "sourcedId,status,dateLastModified,title,"
                                         "courseSourcedId,schoolSourcedId"})
    response = ingest.upload(school, without_column)
    assert response.status_code == 422
    assert response.json["error"]["rows"] == [
        {"file": "classes.csv", "line": 1, "error": "Missing column classType."}]
    for table in ("outbox", "records", "roster_rows", "batches"):
        assert ingest.count(table, school) == 0, table


@pytest.mark.parametrize("body, reason", [
    (b"not a zip", "Not a zip file."),
    (zip_bundle({"users": ("bulk", [])}, manifest_extra={"file.users": "sometimes"}),
     "file.users: bulk, delta or absent."),
])
def test_a_bundle_that_cannot_be_read_is_refused(ingest, body, reason):
    response = ingest.upload(str(uuid.uuid4()), body)
    assert response.status_code == 422
    assert [r["error"] for r in response.json["error"]["rows"]] == [reason]


def test_a_bundle_unzipping_past_the_limit_is_refused(ingest, monkeypatch):
    monkeypatch.setattr(oneroster.reading, "MAX_UNZIPPED_BYTES", 4096)
    response = ingest.upload(str(uuid.uuid4()), SAMPLE.bundle())
    assert response.status_code == 422
    assert "unzips to more than 4096 bytes" in response.json["error"]["rows"][0]["error"]


def _with_users_csv(text: str) -> bytes:
    """A bundle naming users.csv bulk, that file's text as given."""
    bundle = zip_bundle({"users": ("bulk", [])})
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bundle)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename.endswith("users.csv"):
                body = body.decode().splitlines()[0].encode() + b"\n" + text.encode()
            dst.writestr(info.filename, body)
    return out.getvalue()


@pytest.mark.parametrize("record", [
    "," * (2 * oneroster.MAX_RECORD_CHARS),  # one line of empty fields (a few KB zipped)
    '"\n",' * oneroster.MAX_RECORD_CHARS,  # one record over many lines (quoted breaks)
])
def test_a_record_too_long_is_refused_before_it_is_split(ingest, record):
    """A record of millions of empty fields zips to almost nothing but takes gigabytes
    once split into fields: a record past MAX_RECORD_CHARS is refused as it is read."""
    school = str(uuid.uuid4())
    response = ingest.upload(school, _with_users_csv(record + "\n"))
    assert response.status_code == 422
    [fault] = response.json["error"]["rows"]
    assert fault["file"] == "users.csv" and fault["line"] == 2
    assert f"Longer than {oneroster.MAX_RECORD_CHARS} characters" in fault["error"]
    for table in ("outbox", "records", "roster_rows", "batches", "roster_jobs"):
        assert ingest.count(table, school) == 0, table


def test_a_zip_of_too_many_files_is_refused(ingest):
    """Each file the manifest does not name is listed back as not used: a zip of a
    hundred thousand empty files would fill the job's answer (and take the request's
    time and memory to list)."""
    school = str(uuid.uuid4())
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(zip_bundle({"orgs": ("bulk", SAMPLE.tables["orgs"])}))
                         ) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        for n in range(oneroster.MAX_MEMBERS):
            dst.writestr(f"junk/{n}.txt", b"")
    response = ingest.upload(school, out.getvalue())
    assert response.status_code == 422
    [fault] = response.json["error"]["rows"]
    assert fault["error"].startswith(f"The zip holds {oneroster.MAX_MEMBERS + 2} files")
    for table in ("outbox", "records", "roster_rows", "batches", "roster_jobs"):
        assert ingest.count(table, school) == 0, table


def test_an_admin_uploads_for_their_school_only(ingest):
    school, other = str(uuid.uuid4()), str(uuid.uuid4())
    small = zip_bundle({"orgs": ("bulk", SAMPLE.tables["orgs"])})
    assert ingest.upload(school, small, role="school_admin").status_code == 202
    token = ingest.token("school_admin", school)
    response = ingest.client.post("/api/v1/school-data/oneroster", data=small,
                                  content_type="application/zip",
                                  query_string={"school_id": other},
                                  headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert ingest.upload(school, small, role="parent").status_code == 404
    form = ingest.client.post("/api/v1/school-data/oneroster", data={
        "bundle": (io.BytesIO(zip_bundle({"orgs": ("delta", SAMPLE.tables["orgs"])})), "b.zip")},
        content_type="multipart/form-data", headers={"Authorization": f"Bearer {token}"})
    assert form.status_code == 202, form.json


def test_erasing_a_student_takes_their_held_roster_rows(ingest):
    school = str(uuid.uuid4())
    ingest.set_roles(school, ["parent"])
    assert ingest.upload(school, SAMPLE.bundle()).status_code == 202
    student = {v: k for k, v in ingest.ids(school).items()}["student:S0003"]
    participant = ingest.rt.context.participant
    with ingest.rt.context.sessions() as session, session.begin():
        exported = participant.export(session, Subject(school, "student", student))
        participant.erase(session, Subject(school, "student", student))
    files = Counter(r["file"] for r in exported["roster_rows"])
    assert files == {"users": 1, "roles": 1, "demographics": 1, "enrollments": 4,
                     "results": 6}
    with ingest.rt.engine.connect() as conn:
        left = conn.execute(sa.text("SELECT count(*) FROM roster_rows WHERE subject_id = :i"),
                            {"i": student}).scalar()
    assert left == 0


def test_reading_keeps_lines_of_quoted_line_breaks():
    text = ('sourcedId,status,dateLastModified,name,type\r\n'
            'A,active,,"two\nlines",school\r\nB,active,,x,school\r\n')
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("manifest.csv", "propertyName,value\noneroster.version,1.2\nfile.orgs,bulk\n")
        zf.writestr("orgs.csv", text)
    bundle = oneroster.read_bundle(data.getvalue())
    assert [(r.sourced_id, r.line) for r in bundle.rows["orgs"]] == [("A", 2), ("B", 4)]


def later(row: dict, **changes) -> dict:
    return {**row, "dateLastModified": "2026-10-01T08:00:00Z", **changes}


def test_people_not_taken_are_held_as_stubs_so_later_deltas_naming_them_apply(ingest):
    school = str(uuid.uuid4())
    ingest.set_roles(school, ["parent"])
    assert ingest.upload(school, SAMPLE.bundle()).status_code == 202
    relative = SAMPLE.user("R0000")
    demographics = {"sourcedId": "R0000", "birthDate": "1980-01-01"}
    delta = zip_bundle({"users": ("delta", [later(relative, phone="0123")]),
                        "demographics": ("delta", [later(demographics)])})
    response = ingest.upload(school, delta)
    assert response.status_code == 202 and response.json["published"] == 0, response.json
    # The school now lets relatives receive reports: the relative's row is enough.
    ingest.set_roles(school, ["parent", "relative"])
    response = ingest.upload(school, delta)  # the same bytes, other settings: applied
    assert response.status_code == 202 and response.json["already_applied"] is False
    taken = [e["data"] for e in ingest.events(school)
             if e["type"] == "GuardianStudentsRecorded"][-1]
    assert taken["students"][0]["relationship"] == "relative"


def test_a_delta_naming_an_erased_student_is_applied_without_them(ingest):
    school = str(uuid.uuid4())
    ingest.set_roles(school, ["parent"])
    assert ingest.upload(school, SAMPLE.bundle()).status_code == 202
    student = {v: k for k, v in ingest.ids(school).items()}["student:S0003"]
    with ingest.rt.context.sessions() as session, session.begin():
        ingest.rt.context.participant.erase(session, Subject(school, "student", student))
    with ingest.rt.engine.connect() as conn:
        parent = _data(conn.execute(sa.text(
            "SELECT data FROM roster_rows WHERE school_id = :s AND sourced_id = 'P0003' "
            "AND file = 'users'"), {"s": school}).one())
    assert parent["agents"] == []  # the erased child's id is gone from the parent's row
    enrollment = next(e for e in SAMPLE.tables["enrollments"] if e["userSourcedId"] == "S0003")
    result = next(r for r in SAMPLE.tables["results"] if r["studentSourcedId"] == "S0003")
    before = len(ingest.events(school))
    response = ingest.upload(school, zip_bundle({
        "users": ("delta", [later(SAMPLE.user("S0003"))]),
        "enrollments": ("delta", [later(enrollment)]),
        "results": ("delta", [later(result, score="3")])}))
    assert response.status_code == 202, response.json
    assert {i["file"] for i in response.json["ignored"]} == {"users.csv", "results.csv"}
    # Nothing about them; their classes lose them, their only parent receives nothing now.
    assert sorted(e["type"] for e in ingest.events(school)[before:]) == [
        "ClassRecorded"] * 3 + ["GuardianRemoved"]
    alone = ingest.upload(school, zip_bundle({
        "enrollments": ("delta", [later(enrollment, dateLastModified="2026-10-02T08:00:00Z")])}))
    assert alone.status_code == 202 and alone.json["published"] == 0, alone.json


def test_a_role_change_moves_the_held_rows_to_the_new_record(ingest):
    school = str(uuid.uuid4())
    assert ingest.upload(school, SAMPLE.bundle()).status_code == 202
    role = next(r for r in SAMPLE.tables["roles"] if r["userSourcedId"] == "S0004")
    response = ingest.upload(school, zip_bundle({"roles": ("delta", [
        later(role, role="teacher")])}))
    assert response.status_code == 202, response.json
    staff = {v: k for k, v in ingest.ids(school).items()}["staff:S0004"]
    with ingest.rt.context.sessions() as session, session.begin():
        ingest.rt.context.participant.erase(session, Subject(school, "staff", staff))
    with ingest.rt.engine.connect() as conn:
        left = conn.execute(sa.text("SELECT file FROM roster_rows WHERE school_id = :s AND "
                                    "sourced_id = 'S0004'"), {"s": school}).scalars().all()
    assert "users" not in left


def _tables(changes: dict) -> bytes:
    tables = {k: [dict(r) for r in v] for k, v in SAMPLE.tables.items()}
    for (file, index, column), value in changes.items():
        tables[file][index][column] = value
    return zip_bundle({k: ("bulk", v) for k, v in tables.items()})


@pytest.mark.parametrize("body, file, line, reason", [
    (_tables({("lineItems", 1, "resultValueMax"): "inf"}), "lineItems.csv", 3,
     "resultValueMax: Not a number."),
    (_tables({("classes", 0, "title"): "x" * 60}), "classes.csv", 2, "title:"),
    (zip_bundle({"orgs": ("bulk", [])}, headers={"orgs": "sourcedId,status,dateLastModified,"
                                                "name,type,name"}), "orgs.csv", 1,
     "Column name given twice."),
])
def test_odd_rows_are_clear_faults(ingest, body, file, line, reason):
    response = ingest.upload(str(uuid.uuid4()), body)
    assert response.status_code == 422, response.json
    rows = response.json["error"]["rows"]
    assert [(r["file"], r["line"]) for r in rows] == [(file, line)]
    assert rows[0]["error"].startswith(reason)


def test_a_damaged_zip_member_is_a_clear_fault(ingest):
    data = bytearray(SAMPLE.bundle())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("users.csv")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 10
    data[start:start + 40] = b"\xff" * 40  # the deflate stream, not its headers
    response = ingest.upload(str(uuid.uuid4()), bytes(data))
    assert response.status_code == 422
    assert response.json["error"]["rows"][0]["file"] == "users.csv"


def test_a_user_with_several_roles_keeps_each_and_roles_not_taken_are_listed(ingest):
    """Issue 23: a 1.2 roles.csv makes a teacher also a guardian of a student; both are
    honoured. A role Pupil Progress has no use for is listed in `ignored`."""
    school = str(uuid.uuid4())
    ingest.set_roles(school, ["parent", "guardian"])
    tables = {k: [dict(r) for r in v] for k, v in SAMPLE.tables.items()}
    student = next(u for u in tables["users"] if u["sourcedId"] == "S0001")
    student["agentSourcedIds"] += ",T000"
    tables["roles"] += [
        {"sourcedId": "RO-T000-g", "userSourcedId": "T000", "roleType": "secondary",
         "role": "guardian", "orgSourcedId": "ORG1"},
        {"sourcedId": "RO-T001-a", "userSourcedId": "T001", "roleType": "secondary",
         "role": "aide", "orgSourcedId": "ORG1"}]
    response = ingest.upload(school, zip_bundle({k: ("bulk", v) for k, v in tables.items()}))
    assert response.status_code == 202, response.json
    keys = {domain.source_key(school, t, "T000"): t for t in ("staff", "guardian")}
    with ingest.rt.engine.connect() as conn:
        ids = {keys[r.source_key]: r.id for r in conn.execute(sa.text(
            "SELECT source_key, id FROM records WHERE school_id = :s AND content_hash IS NOT "
            "NULL"), {"s": school}) if r.source_key in keys}
    assert set(ids) == {"staff", "guardian"}
    events = ingest.events(school)
    children = next(e for e in events if e["type"] == "GuardianStudentsRecorded"
                    and e["data"]["guardian_id"] == ids["guardian"])["data"]["students"]
    assert [c["relationship"] for c in children] == ["guardian"]
    assert any(e["type"] == "StaffRecorded" and e["data"]["staff_id"] == ids["staff"]
               for e in events)
    line = len(tables["roles"]) + 1  # the aide's row, the last one
    assert {"file": "roles.csv", "line": line, "error": "role: Not a role Pupil Progress "
            "takes (student, teacher, parent, guardian, relative)."} in response.json["ignored"]


def test_enabled_user_false_means_no_invitation(ingest):
    """Issue 23: enabledUser=false (in any case) is honoured: a contact is not taken (no
    invitation), a student is taken without a student account; another value is a fault."""
    school = str(uuid.uuid4())
    ingest.set_roles(school, ["parent"])
    tables = {k: [dict(r) for r in v] for k, v in SAMPLE.tables.items()}
    lines = {}
    for line, user in enumerate(tables["users"], 2):
        if user["sourcedId"] in ("P0001", "S0002"):
            user["enabledUser"], user["email"] = "FALSE", f"{user['sourcedId']}@x.example"
            lines[user["sourcedId"]] = line
    response = ingest.upload(school, zip_bundle({k: ("bulk", v) for k, v in tables.items()}))
    assert response.status_code == 202, response.json
    assert {"file": "users.csv", "line": lines["P0001"], "error": "enabledUser false: no "
            "invitation; not taken."} in response.json["ignored"]
    events = ingest.events(school)
    assert not any(e["type"] == "GuardianRecorded" and e["data"]["email"] ==
                   "P0001@x.example" for e in events)
    assert not any(e["type"] == "StudentAccountRequested" for e in events)
    tables["users"][0]["enabledUser"] = "maybe"
    refused = ingest.upload(school, zip_bundle({k: ("bulk", v) for k, v in tables.items()}))
    assert refused.status_code == 422
    assert refused.json["error"]["rows"] == [{"file": "users.csv", "line": 2,
                                              "error": "enabledUser: true or false."}]


def test_erasing_either_record_of_a_user_with_two_roles_erases_their_held_rows(ingest):
    school = str(uuid.uuid4())
    ingest.set_roles(school, ["parent", "guardian"])
    tables = {k: [dict(r) for r in v] for k, v in SAMPLE.tables.items()}
    next(u for u in tables["users"] if u["sourcedId"] == "S0001")["agentSourcedIds"] += ",T000"
    tables["roles"].append({"sourcedId": "RO-T000-g", "userSourcedId": "T000",
                            "roleType": "secondary", "role": "guardian",
                            "orgSourcedId": "ORG1"})
    assert ingest.upload(school, zip_bundle(
        {k: ("bulk", v) for k, v in tables.items()})).status_code == 202
    for record_type in ("guardian", "staff"):
        with ingest.rt.engine.connect() as conn:
            record = conn.execute(sa.text("SELECT id FROM records WHERE source_key = :k"), {
                "k": domain.source_key(school, record_type, "T000")}).scalar()
        with ingest.rt.context.sessions() as session, session.begin():
            ingest.rt.context.participant.erase(session, Subject(school, record_type, record))
        with ingest.rt.engine.connect() as conn:
            left = conn.execute(sa.text(
                "SELECT file FROM roster_rows WHERE school_id = :s AND (sourced_id = 'T000' "
                "OR sourced_id LIKE 'RO-T000%')"), {"s": school}).scalars().all()
        assert left == [], (record_type, left)
        assert ingest.upload(school, zip_bundle(  # taken anew, as a new record
            {k: ("bulk", v) for k, v in tables.items()})).status_code == 202


@pytest.mark.parametrize("file, column, value", [
    ("classes", "classType", "Scheduled"),  # a class refused for its shape
    ("classes", "title", "x" * 300),
    ("lineItems", "resultValueMax", "inf"),  # a line item refused for its shape
    ("users", "givenName", "\x07"),  # a student refused for their shape
    ("roles", "status", "inactive"),  # a student's role refused: their role is not known
])
def test_rows_naming_a_row_refused_for_its_shape_are_not_refused_as_well(
        ingest, file, column, value):
    """Each fault is real: the one row at fault is reported, not the enrollments, line
    items and results that name it (issue 23, "Faults that are true")."""
    tables = {k: [dict(r) for r in v] for k, v in SAMPLE.tables.items()}
    target = {"classes": "CL0", "lineItems": "LI0-0", "users": "S0000",
              "roles": "RO-S0000"}[file]
    index = next(i for i, r in enumerate(tables[file]) if r["sourcedId"] == target)
    tables[file][index][column] = value
    response = ingest.upload(str(uuid.uuid4()),
                             zip_bundle({k: ("bulk", v) for k, v in tables.items()}))
    assert response.status_code == 422, response.json
    rows = response.json["error"]["rows"]
    assert [(r["file"], r["line"]) for r in rows] == [(f"{file}.csv", index + 2)], rows
    assert rows[0]["error"].startswith(f"{column}:")


def _placements(ingest, school: str) -> dict[str, int | None]:
    """Each student's latest year group as published, by the school's source id."""
    ids = ingest.ids(school)
    return {ids[e["data"]["student_id"]].split(":")[1]: e["data"]["year_group"]
            for e in ingest.events(school) if e["type"] == "StudentPlacementRecorded"}


def test_a_grade_outside_01_to_13_or_none_leaves_the_year_group_unknown(ingest):
    """`grades` is optional: no grade, or only codes such as PS, UG, Other, is taken with
    the year group unknown; the first grade 01-13 is the year group."""
    school = str(uuid.uuid4())
    grades = {"S0000": "PS", "S0001": "UG", "S0002": "Other", "S0003": "", "S0004": "KG,07"}
    tables = {k: [dict(r) for r in v] for k, v in SAMPLE.tables.items()}
    for user in tables["users"]:
        user["grades"] = grades.get(user["sourcedId"], user["grades"])
    response = ingest.upload(school, zip_bundle({k: ("bulk", v) for k, v in tables.items()}))
    assert response.status_code == 202, response.json
    placed = _placements(ingest, school)
    assert {s: placed[s] for s in grades} == {"S0000": None, "S0001": None, "S0002": None,
                                              "S0003": None, "S0004": 7}
    assert placed["S0006"] == 8  # the sample's own grade


def test_a_date_of_birth_arrives_with_a_later_upload_and_stays_when_one_omits_it(ingest):
    """A bundle without demographics.csv takes the students with no date of birth (their
    links wait); a later delta gives one (the links become confirmable); a bundle after
    that without one does not take it away."""
    school = str(uuid.uuid4())
    tables = {k: [dict(r) for r in v] for k, v in SAMPLE.tables.items()}
    del tables["demographics"]
    assert ingest.upload(school, zip_bundle({k: ("bulk", v) for k, v in tables.items()})
                         ).status_code == 202
    births = [e for e in ingest.events(school) if e["type"] == "StudentBirthDateRecorded"]
    assert births == [] and len(_placements(ingest, school)) == 40

    delta = zip_bundle({"demographics": ("delta", [{
        "sourcedId": "S0000", "birthDate": "2013-05-15",
        "dateLastModified": "2026-09-02T08:00:00Z"}])})
    assert ingest.upload(school, delta).status_code == 202
    births = [e for e in ingest.events(school) if e["type"] == "StudentBirthDateRecorded"]
    ids = ingest.ids(school)
    assert [(ids[e["data"]["student_id"]], e["data"]["date_of_birth"]) for e in births] == [
        ("student:S0000", "2013-05-15")]

    next(u for u in tables["users"] if u["sourcedId"] == "S0001")["givenName"] = "Renamed"
    before = len(ingest.events(school))
    assert ingest.upload(school, zip_bundle({k: ("bulk", v) for k, v in tables.items()})
                         ).status_code == 202
    later = ingest.events(school)[before:]
    assert later and not [e for e in later if e["type"] == "StudentBirthDateRecorded"]
    assert not [e for e in later if "birth" in json.dumps(e).lower()]


def _with_users_lines(data: bytes, extra: dict[str, str]) -> tuple[bytes, dict[str, int]]:
    """The bundle with `extra` appended to the users.csv lines of those sourcedIds; and
    each one's line number."""
    out, lines = io.BytesIO(), {}
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "users.csv":
                rows = body.decode().split("\r\n")
                for n, row in enumerate(rows, 1):
                    sid = row.split(",", 1)[0]
                    if sid in extra:
                        rows[n - 1], lines[sid] = row + extra[sid], n
                body = "\r\n".join(rows).encode()
            dst.writestr(info, body)
    return out.getvalue(), lines


def test_extra_empty_fields_are_warnings_and_extra_values_one_fault(ingest):
    """A spreadsheet's trailing empty fields are dropped with a warning; a field with a
    value past the header refuses the bundle, with that one row's fault (the rows naming
    the student are not refused as well)."""
    columns = len(HEADERS["users"].split(","))
    data, lines = _with_users_lines(SAMPLE.bundle(), {"S0000": ",,", "T000": ","})
    response = ingest.upload(str(uuid.uuid4()), data)
    assert response.status_code == 202, response.json
    warnings = [i for i in response.json["ignored"] if "after the last column" in i["error"]]
    assert warnings == [
        {"file": "users.csv", "line": lines["T000"],
         "error": "1 empty field(s) after the last column: dropped."},
        {"file": "users.csv", "line": lines["S0000"],
         "error": "2 empty field(s) after the last column: dropped."}]

    data, lines = _with_users_lines(SAMPLE.bundle(), {"S0001": ",,x"})
    response = ingest.upload(str(uuid.uuid4()), data)
    assert response.status_code == 422, response.json
    assert response.json["error"]["rows"] == [
        {"file": "users.csv", "line": lines["S0001"],
         "error": f"{columns + 2} fields; the header has {columns}."}]
