"""Reports through the real chain: pushed data (ingest) → verified parent (identity,
linking) → published snapshots read only by the right people. Real PostgreSQL, RabbitMQ
and tokens (issue 7)."""
import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa

from services.reports.models import metadata as reports_metadata
from tests.support import wait_for
from tests.system import RealSystem, guardian, student

pytestmark = pytest.mark.integration
PERIOD = "2026 Autumn"


def term(marks="B", attitude="Excellent") -> list[dict]:
    def grade(source, pupil, klass, kind, value, **more):
        return {"type": "attainment.recorded", "source_id": source, "data": {
            "student_id": pupil, "class_id": klass, "period": PERIOD, "kind": kind,
            "value": value, **more}}

    def trait(source, pupil, klass, kind, value):
        return {"type": "characteristic.recorded", "source_id": source, "data": {
            "student_id": pupil, "class_id": klass, "period": PERIOD, "kind": kind,
            "value": value}}
    return [
        {"type": "staff.upserted", "source_id": "T1", "data": {
            "title": "Ms", "given_name": "Ada", "family_name": "Byron"}},
        {"type": "staff.upserted", "source_id": "T2", "data": {
            "title": "Mr", "given_name": "Alan", "family_name": "Turing"}},
        student("S1", given_name="Annabel", family_name="Quill", form_group="Form 7Q"),
        student("S2", "2014-06-01", given_name="Bartholomew", family_name="Rook",
                form_group="8R"),
        {"type": "class.upserted", "source_id": "MA", "data": {
            "name": "7 Maths", "subject": "Maths", "teacher_ids": ["T1"],
            "student_ids": ["S1", "S2"]}},
        {"type": "class.upserted", "source_id": "EN", "data": {
            "name": "7 English", "subject": "English", "teacher_ids": ["T2"],
            "student_ids": ["S1", "S2"]}},
        grade("A1", "S1", "MA", "mark", "67", out_of=80, topic="Fractions"),
        grade("A2", "S1", "MA", "grade", marks),
        grade("A3", "S1", "EN", "target", "A*"),
        trait("C1", "S1", "MA", "effort", "Outstanding"),
        trait("C2", "S1", "EN", "attitude", attitude),
        grade("A4", "S2", "MA", "grade", "C"),
        trait("C3", "S2", "EN", "behaviour", "Good"),
        guardian("G1", "one@example.org", {"S1": True}),
        guardian("G2", "two@example.org", {"S2": True}),
    ]


@pytest.fixture
def world(broker_settings, tmp_path, new_database):
    system = RealSystem(broker_settings, tmp_path, new_database,
                        ["identity", "ingest", "linking", "reports"])
    school, system_token = system.school()
    system.push(system_token, term())
    ids = {e["data"]["given_name"]: e["data"]["student_id"]
           for e in [system.tap.wait("StudentRecorded",
                                     lambda d, n=name: d["given_name"] == n)
                     for name in ("Annabel", "Bartholomew")]}
    one = system.activate("one@example.org")
    link = wait_for(lambda: system.call("linking", "get", "/api/v1/links", one
                                        ).json["items"], message="link")[0]
    assert system.call("linking", "post", f"/api/v1/links/{link['id']}/verify", one,
                       {"date_of_birth": "2015-03-02"}).status_code == 200
    engine = system.runtimes["reports"].engine
    wait_for(lambda: _count(engine, "SELECT count(*) FROM parent_access WHERE verified")
             == 1 and _count(engine, "SELECT count(*) FROM characteristics") == 3,
             message="reports has the data and the verified link")
    admin = system.admin(school, "admin@example.org")
    yield system, school, system_token, ids, one, admin
    system.close()


def _count(engine, sql) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar_one()


def publish(system, admin, **body):
    response = system.call("reports", "post", "/api/v1/reports/publish", admin,
                           {"period": PERIOD, "title": "Autumn report", **body})
    assert response.status_code == 202, response.json
    return response.json["published"]


def reports_of(system, token, student_id):
    return system.call("reports", "get", f"/api/v1/students/{student_id}/reports", token)


def test_the_verified_parent_reads_exactly_what_was_pushed(world):
    system, _, _, ids, one, admin = world
    assert publish(system, admin) == 2
    (summary,) = reports_of(system, one, ids["Annabel"]).json["items"]
    assert summary["period"] == PERIOD and summary["title"] == "Autumn report"
    report = system.call("reports", "get", f"/api/v1/reports/{summary['id']}", one).json
    assert report["student"] == {"id": ids["Annabel"], "name": "Annabel Quill",
                                 "form_group": "Form 7Q", "year_group": 7}
    assert report["subjects"] == [
        {"subject": "English", "class": "7 English", "teachers": ["Mr Alan Turing"],
         "attainment": [{"kind": "target", "value": "A*"}],
         "characteristics": [{"kind": "attitude", "value": "Excellent"}]},
        {"subject": "Maths", "class": "7 Maths", "teachers": ["Ms Ada Byron"],
         "attainment": [{"kind": "grade", "value": "B"},
                        {"kind": "mark", "value": "67", "out_of": 80.0,
                         "topic": "Fractions"}],
         "characteristics": [{"kind": "effort", "value": "Outstanding"}]},
    ]
    published = system.tap.wait("ReportPublished", lambda d: d["report_id"] == summary["id"])
    assert "B" not in json.dumps(published["data"]).split('"title"')[0].split()  # no grades


def test_everyone_else_gets_404_on_every_endpoint_that_takes_an_id(world):
    system, school, _, ids, one, admin = world
    publish(system, admin)
    annabel_report = reports_of(system, one, ids["Annabel"]).json["items"][0]["id"]
    two = system.activate("two@example.org")  # Bartholomew's parent, not verified
    other_school, _ = system.school("Elsewhere")
    other_admin = system.admin(other_school, "elsewhere-admin@example.org")
    nobody = str(uuid.uuid4())
    endpoints = [f"/api/v1/students/{ids['Annabel']}/reports",
                 f"/api/v1/reports/{annabel_report}",
                 f"/api/v1/students/{ids['Bartholomew']}/reports",
                 f"/api/v1/students/{nobody}/reports", f"/api/v1/reports/{nobody}"]
    expected_missing = system.call("reports", "get", f"/api/v1/reports/{nobody}", one).json
    for caller_name, token in (("unverified parent", two), ("another school's admin",
                                                             other_admin)):
        for path in endpoints:
            response = system.call("reports", "get", path, token)
            assert (response.status_code, response.json) == (404, expected_missing), \
                (caller_name, path)
    # The verified parent of one child sees nothing of the other, nor of missing ids.
    for path in endpoints[2:]:
        assert system.call("reports", "get", path, one).status_code == 404
    assert system.call("reports", "get", endpoints[0], admin).status_code == 200


def test_an_embargoed_report_is_invisible_until_its_time_and_only_then_announced(world):
    system, _, _, ids, one, admin = world
    service = system.runtimes["reports"].context.use_cases.reports
    now = dt.datetime.now(dt.timezone.utc)
    service.clock = lambda: now
    publish(system, admin, visible_from=(now + dt.timedelta(days=1)).isoformat())
    assert reports_of(system, one, ids["Annabel"]).json["items"] == []
    staff_view = reports_of(system, admin, ids["Annabel"]).json["items"]
    assert len(staff_view) == 1  # the school sees what it published
    assert system.call("reports", "get", f"/api/v1/reports/{staff_view[0]['id']}", one
                       ).status_code == 404
    with system.runtimes["reports"].context.sessions() as session, session.begin():
        assert service.announce_due(session) == 0
    system.tap._drain()
    assert not [e for e in system.tap.seen if e["type"] == "ReportPublished"]

    service.clock = lambda: now + dt.timedelta(days=1, seconds=1)
    with system.runtimes["reports"].context.sessions() as session, session.begin():
        assert service.announce_due(session) == 2
    system.tap.wait("ReportPublished", lambda d: d["report_id"] == staff_view[0]["id"])
    assert len(reports_of(system, one, ids["Annabel"]).json["items"]) == 1


def test_data_changed_after_publishing_leaves_the_report_alone_and_republishing_versions(
        world):
    system, _, system_token, ids, one, admin = world
    publish(system, admin)
    (first,) = reports_of(system, one, ids["Annabel"]).json["items"]
    before = system.call("reports", "get", f"/api/v1/reports/{first['id']}", one).json
    system.push(system_token, term(marks="A", attitude="Poor"))
    engine = system.runtimes["reports"].engine
    wait_for(lambda: _count(engine, "SELECT count(*) FROM attainment WHERE value='A'") == 1,
             message="changed data applied")
    assert system.call("reports", "get", f"/api/v1/reports/{first['id']}", one).json == before
    publish(system, admin)
    listed = reports_of(system, one, ids["Annabel"]).json["items"]
    assert len(listed) == 2 and first["id"] in {r["id"] for r in listed}  # both archived
    newest = system.call("reports", "get", f"/api/v1/reports/{listed[0]['id']}", one).json
    assert newest["subjects"][1]["attainment"][0] == {"kind": "grade", "value": "A"}


def test_pages_are_bounded(world):
    system, _, _, ids, one, admin = world
    for _ in range(3):
        publish(system, admin)
    page = reports_of(system, one, ids["Annabel"]).json
    assert len(page["items"]) == 3 and page["next"] is None
    first = system.call("reports", "get", f"/api/v1/students/{ids['Annabel']}/reports", one,
                        query={"limit": 2}).json
    second = system.call("reports", "get", f"/api/v1/students/{ids['Annabel']}/reports", one,
                         query={"limit": 2, "after": first["next"]}).json
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    assert second["next"] is None
    too_many = system.call("reports", "get", f"/api/v1/students/{ids['Annabel']}/reports",
                           one, query={"limit": 500})
    assert too_many.status_code == 422


def test_erasing_a_student_leaves_nothing_of_them_in_the_reports_database(world):
    system, school, _, ids, one, admin = world
    publish(system, admin)
    done = system.rights_request("ErasureRequested", school, "student", ids["Annabel"],
                                 "reports")
    assert done["data"]["outcome"] == "done"
    # Each needle is one no random base64 could hold: the answer's signature is a JWS, and
    # a bare "7Q" turned up in one (CI, 2026-12-07).
    needles = ("Annabel", "Quill", "Form 7Q", "Fractions", "Outstanding", "Excellent", "A*",
               ids["Annabel"])
    found = []
    with system.runtimes["reports"].engine.connect() as conn:
        for table in reports_metadata.sorted_tables:
            if table.name in ("erasure_tombstones", "inbox"):
                continue  # the id alone, kept so late events cannot bring data back
            for row in conn.execute(sa.select(table)).mappings():
                text = json.dumps(dict(row), default=str)
                found += [f"{table.name}:{n}:{row.get('event_type')}:{row.get('sent_at')}"
                          for n in needles if n in text]
    assert found == []
    assert reports_of(system, one, ids["Annabel"]).status_code == 404
    # Bartholomew's data is untouched.
    assert _count(system.runtimes["reports"].engine,
                  "SELECT count(*) FROM reports") == 1


def test_a_restricted_student_is_kept_but_not_shown(world):
    system, school, _, ids, one, admin = world
    publish(system, admin)
    system.rights_request("ProcessingRestricted", school, "student", ids["Annabel"],
                                  "reports")
    response = reports_of(system, one, ids["Annabel"])
    assert response.status_code == 423
    assert response.json["error"]["code"] == "processing_restricted"
    assert _count(system.runtimes["reports"].engine, "SELECT count(*) FROM reports") == 2


def test_a_teachers_erasure_removes_their_name_from_published_reports(world):
    system, school, _, ids, one, admin = world
    publish(system, admin)
    byron = system.tap.wait("StaffRecorded", lambda d: d["family_name"] == "Byron")
    system.rights_request("ErasureRequested", school, "staff", byron["data"]["staff_id"],
                                  "reports")
    (summary,) = reports_of(system, one, ids["Annabel"]).json["items"]
    report = system.call("reports", "get", f"/api/v1/reports/{summary['id']}", one).json
    teachers = {s["subject"]: s["teachers"] for s in report["subjects"]}
    assert teachers == {"English": ["Mr Alan Turing"], "Maths": []}
    with system.runtimes["reports"].engine.connect() as conn:
        text = json.dumps([dict(r) for r in conn.execute(sa.text(
            "SELECT content FROM reports")).mappings()], default=str)
    assert "Byron" not in text


def test_a_student_reads_their_own_reports_and_nobody_elses(world):
    system, school, system_token, ids, _, admin = world
    system.call("identity", "patch", f"/api/v1/schools/{school}", system.operator,
                {"student_accounts": True})
    system.push(system_token, [student("S1", given_name="Annabel", family_name="Quill",
                                       form_group="Form 7Q", email="annabel@example.org")])
    me = system.activate("annabel@example.org", "a-student-password-1")
    engine = system.runtimes["reports"].engine
    wait_for(lambda: _count(engine, "SELECT count(*) FROM student_accounts") == 1,
             message="reports knows the student's login")
    publish(system, admin)
    assert len(reports_of(system, me, ids["Annabel"]).json["items"]) == 1
    assert reports_of(system, me, ids["Bartholomew"]).status_code == 404


def test_a_restricted_parent_link_stops_granting_access(world):
    system, school, _, ids, one, admin = world
    publish(system, admin)
    guardian_id = system.tap.wait("GuardianRecorded",
                                  lambda d: d["email"] == "one@example.org")["data"][
        "guardian_id"]
    system.rights_request("ProcessingRestricted", school, "guardian", guardian_id,
                                  "reports")
    assert reports_of(system, one, ids["Annabel"]).status_code == 423
    assert reports_of(system, admin, ids["Annabel"]).status_code == 200  # the school still
