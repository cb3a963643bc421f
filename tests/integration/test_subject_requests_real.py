"""Subject requests end to end: every service running on real RabbitMQ and PostgreSQL,
requests filed through dsar's API, answered by every service in the data map (issue 9)."""
import csv
import importlib
import io
import json
import re
import uuid
import zipfile

import pytest
import sqlalchemy as sa

from shared.config import RIGHTS_PARTICIPANTS, SERVICES
from shared.messaging.envelope import new_envelope
from tests.support import publish_events, wait_for
from tests.system import RealSystem, guardian, student

pytestmark = pytest.mark.integration
PERIOD = "2026 Autumn"
# Each with a character no key or token holds: "Zq7" alone once turned up inside a random
# signing key.
NEEDLES = ("Zephyrine", "Quarles", "2013-11-07", "Z9-grade", "Radiant", "Zq7 form")


@pytest.fixture
def world(broker_settings, tmp_path, new_database):
    system = RealSystem(broker_settings, tmp_path, new_database, list(SERVICES))
    school, system_token = system.school()
    system.push(system_token, [
        {"type": "staff.upserted", "source_id": "T1", "data": {
            "title": "Ms", "given_name": "Ada", "family_name": "Byron"}},
        student("S1", "2013-11-07", given_name="Zephyrine", family_name="Quarles",
                form_group="Zq7 form"),
        student("S2", "2014-06-01", given_name="Bo", family_name="Rook", form_group="8R"),
        {"type": "class.upserted", "source_id": "C1", "data": {
            "name": "7 Maths", "subject": "Maths", "teacher_ids": ["T1"],
            "student_ids": ["S1", "S2"]}},
        {"type": "attainment.recorded", "source_id": "A1", "data": {
            "student_id": "S1", "class_id": "C1", "period": PERIOD, "kind": "grade",
            "value": "Z9-grade"}},
        {"type": "characteristic.recorded", "source_id": "K1", "data": {
            "student_id": "S1", "class_id": "C1", "period": PERIOD, "kind": "effort",
            "value": "Radiant"}},
        {"type": "attainment.recorded", "source_id": "A2", "data": {
            "student_id": "S2", "class_id": "C1", "period": PERIOD, "kind": "grade",
            "value": "C"}},
        guardian("G1", "zq.parent@example.org", {"S1": True}),
        guardian("G2", "bo.parent@example.org", {"S2": True})])
    ids = {e["data"]["given_name"]: e["data"]["student_id"] for e in [
        system.tap.wait("StudentRecorded", lambda d, n=n: d["given_name"] == n)
        for n in ("Zephyrine", "Bo")]}
    parent = system.activate("zq.parent@example.org")
    link = wait_for(lambda: system.call("linking", "get", "/api/v1/links", parent
                                        ).json["items"], message="link")[0]
    assert system.call("linking", "post", f"/api/v1/links/{link['id']}/verify", parent,
                       {"date_of_birth": "2013-11-07"}).status_code == 200
    wait_for(lambda: _scalar(system, "reports", "SELECT count(*) FROM parent_access "
                                                "WHERE verified") == 1
             and _scalar(system, "reports", "SELECT count(*) FROM characteristics") == 1,
             message="reports ready")
    admin = system.admin(school, "admin@example.org")
    assert system.call("reports", "post", "/api/v1/reports/publish", admin,
                       {"period": PERIOD, "title": "Autumn"}).json["published"] == 2
    yield system, school, ids, parent, admin
    system.close()


def _scalar(system, service, sql, **params):
    with system.runtimes[service].engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def file(system, token, kind, subject_type, subject_id, **details):
    response = system.call("dsar", "post", "/api/v1/subject-requests", token, {
        "kind": kind, "subject": {"type": subject_type, "id": subject_id},
        "details": details})
    assert response.status_code == 201, response.json
    return response.json


def completed(system, token, request_id):
    def done():
        view = system.call("dsar", "get", f"/api/v1/subject-requests/{request_id}", token).json
        return view if view["status"] == "completed" else None
    return wait_for(done, timeout=60, message="request completed")


def decided(system, token, request_id):
    """The request once it is no longer in progress (completed, failed or refused)."""
    def view():
        answer = system.call("dsar", "get", f"/api/v1/subject-requests/{request_id}",
                             token).json
        return answer if answer["status"] != "in_progress" else None
    return wait_for(view, timeout=60, message="the request decided")


def all_relays_idle(system) -> bool:
    return all(rt.relay.pending() == 0 for rt in system.runtimes.values())


def test_erasure_of_a_student_completes_everywhere_and_leaves_nothing(world):
    system, _, ids, parent, admin = world
    request = file(system, admin, "erasure", "student", ids["Zephyrine"])
    assert request["status"] == "in_progress" and set(request["services"]) == set(
        RIGHTS_PARTICIPANTS)
    view = completed(system, admin, request["id"])
    assert view["services"] == {s: "done" for s in RIGHTS_PARTICIPANTS}
    steps = system.call("dsar", "get", f"/api/v1/subject-requests/{request['id']}/audit",
                        admin).json["items"]
    # ingest confirms the id is this school's record before anything is sent
    assert [s["step"] for s in steps][:4] == ["received", "resolving", "resolved", "sent"]
    assert sorted(s["service"] for s in steps if s["step"] == "answered_done") == sorted(
        RIGHTS_PARTICIPANTS)
    assert steps[-1]["step"] == "completed"
    wait_for(lambda: all_relays_idle(system), message="every outbox sent")
    found = []
    for name in SERVICES:
        metadata = importlib.import_module(f"services.{name}.models").metadata
        with system.runtimes[name].engine.connect() as conn:
            for table in metadata.sorted_tables:
                for row in conn.execute(sa.select(table)).mappings():
                    text = json.dumps(dict(row), default=str)
                    found += [f"{name}.{table.name}:{n}" for n in NEEDLES if n in text]
    assert found == []
    sid = ids["Zephyrine"]
    assert _scalar(system, "linking", "SELECT count(*) FROM links WHERE student_id=:s",
                   s=sid) == 0
    assert _scalar(system, "reports", "SELECT count(*) FROM parent_access WHERE "
                                      "student_id=:s", s=sid) == 0
    assert _scalar(system, "notifications", "SELECT count(*) FROM verified_links WHERE "
                                            "student_id=:s", s=sid) == 0
    # Bo is untouched.
    assert _scalar(system, "reports", "SELECT count(*) FROM reports") == 1
    assert system.call("reports", "get", f"/api/v1/students/{sid}/reports", parent
                       ).status_code == 404


UUID_OR_HASH = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|"
                          r"\b[0-9a-fA-F]{16,}\b", re.I)


def test_an_access_request_returns_exactly_the_subjects_data_as_a_zip(world):
    system, _, ids, _, admin = world
    request = file(system, admin, "access", "student", ids["Zephyrine"])
    completed(system, admin, request["id"])
    response = system.call("dsar", "get", f"/api/v1/subject-requests/{request['id']}/export",
                           admin)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    everything = json.loads(archive.read("export.json"))
    text = json.dumps(everything)
    assert "Zephyrine" in text and "2013-11-07" in text and "Z9-grade" in text
    assert "Rook" not in text and ids["Bo"] not in text  # nobody else
    assert set(everything["services"]) == set(RIGHTS_PARTICIPANTS)
    csvs = [n for n in archive.namelist() if n.endswith(".csv")]
    assert csvs
    for name in csvs:
        rows = list(csv.DictReader(io.StringIO(archive.read(name).decode())))
        assert rows, name
    # Issue 24: beside them, a summary a person reads, grouped, without ids or hashes.
    page = archive.read("your-data.html").decode()
    assert "Zephyrine" in page and "Z9-grade" in page and "7 November 2013" in page
    assert "Rook" not in page
    assert not UUID_OR_HASH.search(page), UUID_OR_HASH.search(page)
    assert ids["Zephyrine"] not in page and request["id"] not in page
    for group in ("Your account", "Links between parents and children", "Reports",
                  "Emails", "Requests about personal data"):
        assert f">{group}</h2>" in page, group


def test_restriction_stops_reading_and_lifting_it_restores_without_losing_data(world):
    system, _, ids, parent, admin = world
    sid = ids["Zephyrine"]
    restrict = file(system, admin, "restriction", "student", sid)
    completed(system, admin, restrict["id"])
    response = system.call("reports", "get", f"/api/v1/students/{sid}/reports", parent)
    assert response.status_code == 423
    lift = file(system, admin, "restriction", "student", sid, lift=True)
    completed(system, admin, lift["id"])
    assert len(system.call("reports", "get", f"/api/v1/students/{sid}/reports", parent
                           ).json["items"]) == 1
    assert _scalar(system, "reports", "SELECT count(*) FROM attainment WHERE "
                                      "student_id=:s", s=sid) == 1  # never deleted


def test_a_parents_request_waits_for_the_school_which_can_refuse_with_a_reason(world):
    system, school, ids, parent, admin = world
    wait_for(lambda: _scalar(system, "dsar", "SELECT count(*) FROM own_subjects WHERE "
                                             "subject_id=:s", s=ids["Zephyrine"]) == 1,
             message="dsar knows the verified child")
    request = file(system, parent, "access", "student", ids["Zephyrine"])
    assert request["status"] == "awaiting_school"
    assert request["services"] == {s: "pending" for s in RIGHTS_PARTICIPANTS}
    not_theirs = system.call("dsar", "post", "/api/v1/subject-requests", parent, {
        "kind": "access", "subject": {"type": "student", "id": ids["Bo"]}})
    assert not_theirs.status_code == 409
    refused = system.call("dsar", "post",
                          f"/api/v1/subject-requests/{request['id']}/refuse", admin,
                          {"reason": "Already answered last week"})
    assert refused.json["status"] == "refused"
    assert refused.json["refusal_reason"] == "Already answered last week"
    mine = system.call("dsar", "get", f"/api/v1/subject-requests/{request['id']}", parent)
    assert mine.status_code == 200 and mine.json["status"] == "refused"
    second = file(system, parent, "access", "student", ids["Zephyrine"])
    approved = system.call("dsar", "post",
                           f"/api/v1/subject-requests/{second['id']}/approve", admin)
    assert approved.json["status"] == "in_progress"
    completed(system, admin, second["id"])
    other_school, _ = system.school("Elsewhere")
    other_admin = system.admin(other_school, "other-admin@example.org")
    assert system.call("dsar", "get", f"/api/v1/subject-requests/{second['id']}",
                       other_admin).status_code == 404

    # Issue 24: the school hands the copy over itself, or releases it to the parent, who
    # then downloads it in the app until it expires.
    path = f"/api/v1/subject-requests/{second['id']}"
    assert system.call("dsar", "get", f"{path}/export", parent).status_code == 404
    assert system.call("dsar", "get", path, parent).json["export_released"] is False
    assert system.call("dsar", "post", f"{path}/release", other_admin).status_code == 404
    assert system.call("dsar", "post", f"{path}/release", parent).status_code == 404
    released = system.call("dsar", "post", f"{path}/release", admin)
    assert released.status_code == 200 and released.json["export_released"] is True
    assert system.call("dsar", "post", f"{path}/release", admin).status_code == 200
    mine = system.call("dsar", "get", path, parent).json
    assert mine["export_released"] is True and mine["export_expires_at"]
    download = system.call("dsar", "get", f"{path}/export", parent)
    assert download.status_code == 200 and download.mimetype == "application/zip"
    page = zipfile.ZipFile(io.BytesIO(download.data)).read("your-data.html").decode()
    assert "Zephyrine" in page and not UUID_OR_HASH.search(page)
    steps = [e["step"] for e in system.call("dsar", "get", f"{path}/audit", admin
                                            ).json["items"]]
    assert steps.count("export_released") == 1 and "exported_to_requester" in steps
    # A link the school revokes after the release ends the download too (an outsider's
    # review found the copy stayed downloadable until it expired).
    [link] = system.call("linking", "get", "/api/v1/links", parent).json["items"]
    assert system.call("linking", "post", f"/api/v1/links/{link['id']}/revoke", admin
                       ).json == {"status": "revoked"}
    wait_for(lambda: _scalar(system, "dsar", "SELECT count(*) FROM own_subjects WHERE "
                                             "subject_id=:s", s=ids["Zephyrine"]) == 0,
             message="dsar forgets the revoked child")
    assert system.call("dsar", "get", f"{path}/export", parent).status_code == 404
    school_filed = file(system, admin, "access", "student", ids["Zephyrine"])
    completed(system, admin, school_filed["id"])
    refused = system.call("dsar", "post",
                          f"/api/v1/subject-requests/{school_filed['id']}/release", admin)
    assert refused.status_code == 409 and refused.json["error"]["code"] == \
        "filed_by_the_school"


def test_offboarding_a_school_leaves_none_of_its_rows_and_another_school_untouched(world):
    system, school, _, _, _ = world
    other, other_token = system.school("Stays")
    system.push(other_token, [student("O1", given_name="Olive"),
                              guardian("OG", "olive.parent@example.org", {"O1": True})])
    system.tap.wait("InvitationIssued", lambda d: d["email"] == "olive.parent@example.org")
    wait_for(lambda: _scalar(system, "linking", "SELECT count(*) FROM links WHERE "
                                                "school_id=:s", s=other) == 1,
             message="the other school's data in place")
    assert system.call("identity", "delete", f"/api/v1/schools/{school}", system.operator
                       ).status_code == 202

    def offboarded() -> bool:
        with system.runtimes["dsar"].engine.connect() as conn:
            return conn.execute(sa.text(
                "SELECT status FROM requests WHERE kind='offboarding' AND school_id=:s"),
                {"s": school}).scalar() == "completed"
    wait_for(offboarded, timeout=60, message="offboarding completed by every service")
    wait_for(lambda: all_relays_idle(system), message="every outbox sent")
    left = {}
    for name in RIGHTS_PARTICIPANTS:
        metadata = importlib.import_module(f"services.{name}.models").metadata
        with system.runtimes[name].engine.connect() as conn:
            for table in metadata.sorted_tables:
                if "school_id" not in table.c or table.name in (
                        "erasure_tombstones", "schools"):
                    continue  # the school's own tombstone and status are ids only
                where = [table.c.school_id == school]
                if table.name == "outbox":  # only the answer to dsar, and blanked rows
                    where += [table.c.payload.is_not(None),
                              table.c.event_type != "OffboardingCompleted"]
                count = conn.execute(sa.select(sa.func.count()).select_from(table).where(
                    *where)).scalar_one()
                if count:
                    left[f"{name}.{table.name}"] = count
    assert left == {}
    assert _scalar(system, "linking", "SELECT count(*) FROM links WHERE school_id=:s",
                   s=other) == 1


def test_a_service_down_during_an_erasure_is_reasked_and_the_request_completes_later(world):
    system, _, ids, _, admin = world
    system.stop_service("linking")
    request = file(system, admin, "erasure", "student", ids["Zephyrine"])
    others = set(RIGHTS_PARTICIPANTS) - {"linking"}

    def waiting_on_linking():
        view = system.call("dsar", "get", f"/api/v1/subject-requests/{request['id']}",
                           admin).json
        return view if {s for s, v in view["services"].items() if v == "done"} == others \
            else None
    view = wait_for(waiting_on_linking, timeout=60, message="all but linking answered")
    assert view["status"] == "in_progress" and view["services"]["linking"] == "pending"
    dsar = system.runtimes["dsar"].context.use_cases.dsar
    real_clock = dsar.clock
    dsar.clock = lambda: real_clock() + dsar.reask_after  # the sweeper's next round
    with system.runtimes["dsar"].context.sessions() as session, session.begin():
        assert dsar.sweep(session) == 1
    dsar.clock = real_clock
    assert _scalar(system, "dsar", "SELECT asks FROM request_services WHERE "
                                   "service='linking'") == 2
    system.start_service("linking")
    completed(system, admin, request["id"])
    assert _scalar(system, "linking", "SELECT count(*) FROM students") == 1  # only Bo


def test_a_repeated_erasure_and_a_late_school_event_bring_nothing_back(world):
    system, school, ids, _, admin = world
    sid = ids["Zephyrine"]
    late = system.tap.wait("StudentRecorded", lambda d: d["student_id"] == sid)
    late_dob = system.tap.wait("StudentBirthDateRecorded", lambda d: d["student_id"] == sid)
    request = file(system, admin, "erasure", "student", sid)
    completed(system, admin, request["id"])
    erasure = system.tap.wait("ErasureRequested", lambda d: d["subject_request_id"]
                              == request["id"])
    publish_events(system.settings, erasure, late, late_dob)
    # Every consumer has seen the late events (they were delivered before the erasure too,
    # so wait on a marker pushed after them instead).
    _, token = system.school("Marker")
    system.push(token, [student("M1", given_name="Marker")])
    for name in ("identity", "linking", "reports"):
        wait_for(lambda n=name: _scalar(system, n, "SELECT count(*) FROM inbox WHERE "
                                                   "event_type='StudentRecorded'") >= 3,
                 message=f"{name} consumed the marker")
    wait_for(lambda: all_relays_idle(system), message="every outbox sent")
    for name in ("linking", "reports"):
        metadata = importlib.import_module(f"services.{name}.models").metadata
        with system.runtimes[name].engine.connect() as conn:
            for table in metadata.sorted_tables:
                text = json.dumps([dict(r) for r in conn.execute(sa.select(table)).mappings()],
                                  default=str)
                assert not [n for n in NEEDLES if n in text], f"{name}.{table.name}"


def test_a_restricted_student_gets_no_report_mail_and_lifting_restores_it(world):
    system, _, ids, _, admin = world
    sid = ids["Zephyrine"]

    def report_mails():
        return _scalar(system, "notifications", "SELECT count(*) FROM deliveries WHERE "
                                                "kind='report' AND student_id=:s", s=sid)
    wait_for(lambda: report_mails() == 1, message="the first publish's mail")
    restrict = file(system, admin, "restriction", "student", sid)
    completed(system, admin, restrict["id"])
    # While restricted: no new report is made for the student, so no mail either.
    assert system.call("reports", "post", "/api/v1/reports/publish", admin,
                       {"period": PERIOD, "title": "Autumn again"}).json["published"] == 1
    wait_for(lambda: all_relays_idle(system), message="everything sent")
    assert report_mails() == 1
    lift = file(system, admin, "restriction", "student", sid, lift=True)
    completed(system, admin, lift["id"])
    assert system.call("reports", "post", "/api/v1/reports/publish", admin,
                       {"period": PERIOD, "title": "Autumn third"}).json["published"] == 2
    wait_for(lambda: _scalar(system, "notifications", "SELECT count(*) FROM deliveries "
                                                      "WHERE kind='report' AND status='sent' "
                                                      "AND student_id=:s", s=sid) == 2,
             message="mail again after the lift")


def test_a_student_files_about_themselves_and_waits_for_the_school(world):
    system, school, ids, _, admin = world
    system.call("identity", "patch", f"/api/v1/schools/{school}", system.operator,
                {"student_accounts": True})
    school_token = system.call("identity", "post", f"/api/v1/schools/{school}/clients",
                               system.operator).json
    push_token = system.call("identity", "post", "/api/v1/auth/token", json={
        "grant_type": "client_credentials", **school_token}).json["access_token"]
    system.push(push_token, [student("S2", "2014-06-01", given_name="Bo",
                                     family_name="Rook", form_group="8R",
                                     email="bo@example.org")])
    me = system.activate("bo@example.org", "a-student-password-1")
    wait_for(lambda: _scalar(system, "dsar", "SELECT count(*) FROM own_subjects WHERE "
                                             "subject_id=:s", s=ids["Bo"]) == 1,
             message="dsar knows the student's own id")
    request = file(system, me, "access", "student", ids["Bo"])
    assert request["status"] == "awaiting_school"
    about_someone_else = system.call("dsar", "post", "/api/v1/subject-requests", me, {
        "kind": "access", "subject": {"type": "guardian", "id": ids["Bo"]}})
    assert about_someone_else.status_code == 422



def test_a_request_by_the_schools_source_id_is_resolved_by_ingest_then_fanned_out(world):
    system, _, ids, _, admin = world
    response = system.call("dsar", "post", "/api/v1/subject-requests", admin, {
        "kind": "access", "subject": {"type": "student", "source_id": "S1"}})
    assert response.status_code == 201
    view = completed(system, admin, response.json["id"])
    assert view["subject"]["id"] == ids["Zephyrine"]
    unknown = system.call("dsar", "post", "/api/v1/subject-requests", admin, {
        "kind": "erasure", "subject": {"type": "student", "source_id": "NOPE"}}).json
    wait_for(lambda: system.call("dsar", "get", f"/api/v1/subject-requests/{unknown['id']}",
                                 admin).json["status"] == "failed",
             message="an unknown source id fails the request")


def test_a_request_naming_another_schools_student_fails_and_changes_nothing_there(world):
    system, _, ids, parent, _ = world
    other, _ = system.school("Elsewhere")
    other_admin = system.admin(other, "elsewhere-admin@example.org")
    request = file(system, other_admin, "erasure", "student", ids["Zephyrine"])
    wait_for(lambda: system.call("dsar", "get", f"/api/v1/subject-requests/{request['id']}",
                                 other_admin).json["status"] == "failed",
             message="refused as not that school's record")
    assert _scalar(system, "linking", "SELECT count(*) FROM students WHERE student_id=:s",
                   s=ids["Zephyrine"]) == 1
    assert system.call("reports", "get", f"/api/v1/students/{ids['Zephyrine']}/reports",
                       parent).status_code == 200


# --- a request reaches only its own school's subjects (issue 21) ---------------------------
def _teacher_in_place(system, teacher_id, name_part) -> bool:
    """The teacher as reports holds them: named, teaching the class, on the report."""
    return (_scalar(system, "reports", "SELECT count(*) FROM staff WHERE staff_id=:t AND "
                                       "name LIKE :n", t=teacher_id, n=f"%{name_part}%") == 1
            and _scalar(system, "reports", "SELECT count(*) FROM class_teachers WHERE "
                                           "staff_id=:t", t=teacher_id) == 1)


def _push_teacher_again(system, school, family_name):
    """The school's later push of its teacher (renamed) and of the class they teach."""
    client = system.call("identity", "post", f"/api/v1/schools/{school}/clients",
                         system.operator).json
    token = system.call("identity", "post", "/api/v1/auth/token", json={
        "grant_type": "client_credentials", **client}).json["access_token"]
    system.push(token, [
        {"type": "staff.upserted", "source_id": "T1", "data": {
            "title": "Ms", "given_name": "Ada", "family_name": family_name}},
        {"type": "class.upserted", "source_id": "C1", "data": {
            "name": "7 Maths", "subject": "Maths", "teacher_ids": ["T1"],
            "student_ids": ["S1", "S2"]}}])


def test_an_erasure_of_another_schools_teacher_or_admin_fails_and_changes_nothing_there(world):
    system, school, _, _, admin = world
    teacher = system.tap.wait("StaffRecorded",
                              lambda d: d["given_name"] == "Ada")["data"]["staff_id"]
    assert _teacher_in_place(system, teacher, "Byron")
    second_admin = system.call("identity", "post", f"/api/v1/schools/{school}/staff",
                               system.operator, {"name": "Second Admin",
                                                 "email": "second@example.org",
                                                 "role": "school_admin"}).json["id"]
    system.activate("second@example.org", "an-admin-password-2")
    other, _ = system.school("Elsewhere")
    other_admin = system.admin(other, "elsewhere-admin@example.org")
    requests = [file(system, other_admin, "erasure", "staff", subject)
                for subject in (teacher, second_admin)]
    for request in requests:
        view = decided(system, other_admin, request["id"])
        assert view["status"] == "failed", view  # asked of nobody: not that school's
        assert not _scalar(system, "dsar", "SELECT count(*) FROM request_services WHERE "
                                           "request_id=:r", r=request["id"])
    # Untouched in every service: no tombstone anywhere, the teacher and admin in place.
    for name in RIGHTS_PARTICIPANTS:
        assert _scalar(system, name, "SELECT count(*) FROM erasure_tombstones WHERE "
                                     "subject_type='staff'") == 0, name
    assert _teacher_in_place(system, teacher, "Byron")
    assert _scalar(system, "reports", "SELECT count(*) FROM reports WHERE "
                                      "body LIKE '%Ada Byron%'") == 2  # still on the reports
    assert system.token("second@example.org", "an-admin-password-2")
    # The school's later push of the teacher is applied.
    _push_teacher_again(system, school, "Lovelace")
    wait_for(lambda: _teacher_in_place(system, teacher, "Lovelace"), timeout=30,
             message="the school's new push applied")
    # The school's own requests about its own staff still go through (ingest confirms a
    # pushed teacher, identity an invited admin).
    own = file(system, admin, "erasure", "staff", second_admin)
    completed(system, admin, own["id"])
    assert system.call("identity", "post", "/api/v1/auth/token", json={
        "grant_type": "password", "email": "second@example.org",
        "password": "an-admin-password-2"}).status_code == 401
    own_teacher = file(system, admin, "access", "staff", teacher)
    completed(system, admin, own_teacher["id"])


def test_a_tombstone_is_the_erasing_schools_alone(world):
    """An erasure that names another school's teacher (as one filed before dsar checked
    staff subjects did) tombstones the id at the filing school only: the teacher's own
    school keeps them, and its later pushes are applied."""
    system, school, _, _, _ = world
    teacher = system.tap.wait("StaffRecorded",
                              lambda d: d["given_name"] == "Ada")["data"]["staff_id"]
    other, _ = system.school("Elsewhere")
    request = new_envelope("ErasureRequested", {
        "subject": {"school_id": other, "type": "staff", "id": teacher},
        "subject_request_id": str(uuid.uuid4())}, producer="dsar", school_id=other)
    publish_events(system.settings, request)
    for name in RIGHTS_PARTICIPANTS:
        answer = system.tap.wait("ErasureCompleted", lambda d, n=name: d["request_id"]
                                 == request.id and d["service"] == n)
        assert answer["data"]["outcome"] == "done", answer
        assert _scalar(system, name, "SELECT count(*) FROM erasure_tombstones WHERE "
                                     "subject_id=:t AND school_id=:s", t=teacher,
                       s=other) == 1, name
        assert _scalar(system, name, "SELECT count(*) FROM erasure_tombstones WHERE "
                                     "school_id=:s", s=school) == 0, name
    assert _teacher_in_place(system, teacher, "Byron")
    _push_teacher_again(system, school, "Lovelace")
    wait_for(lambda: _teacher_in_place(system, teacher, "Lovelace"), timeout=30,
             message="the school's new push applied")


def _summary(system, token, request_id) -> str:
    response = system.call("dsar", "get", f"/api/v1/subject-requests/{request_id}/export",
                           token)
    assert response.status_code == 200, response.json
    return zipfile.ZipFile(io.BytesIO(response.data)).read("your-data.html").decode()


def test_the_summary_is_in_the_requesters_language_else_the_schools(world):
    """Issue 29: a parent who chose Welsh files about themselves; the school admin who
    hands the copy over downloads a Welsh summary (the export records the parent's
    language). A Welsh-medium school's copy about a child with no account of their own
    is in Welsh too (the school's default)."""
    system, school, ids, parent, admin = world
    assert system.call("identity", "patch", "/api/v1/me", parent,
                       {"language": "cy"}).json == {"language": "cy"}
    own = wait_for(lambda: [s for s in system.call("dsar", "get",
                                                   "/api/v1/subject-requests/subjects",
                                                   parent).json["items"]
                            if s["type"] == "guardian"], message="the parent's own record")
    mine = file(system, parent, "access", "guardian", own[0]["id"])
    assert system.call("dsar", "post", f"/api/v1/subject-requests/{mine['id']}/approve",
                       admin).status_code == 200
    completed(system, admin, mine["id"])
    page = _summary(system, admin, mine["id"])
    assert page.startswith('<!doctype html><html lang="cy">')
    assert ">Eich cyfrif</h2>" in page and "zq.parent@example.org" in page
    assert ">Iaith</dt><dd>Cymraeg<" in page and ">Name<" not in page

    about_child = file(system, admin, "access", "student", ids["Zephyrine"])
    completed(system, admin, about_child["id"])
    assert 'lang="en"' in _summary(system, admin, about_child["id"])  # English school
    assert system.call("identity", "patch", f"/api/v1/schools/{school}", system.operator,
                       {"default_language": "cy"}).status_code == 200
    wait_for(lambda: _scalar(system, "dsar", "SELECT count(*) FROM school_languages WHERE "
                                             "default_language = 'cy'") == 1,
             timeout=90, message="dsar learns the school's language")
    page = _summary(system, admin, about_child["id"])
    assert page.startswith('<!doctype html><html lang="cy">')
    assert "Zephyrine" in page and "7 Tachwedd 2013" in page and "November" not in page
    assert ">Adroddiadau</h2>" in page and ">Cyrhaeddiad" in page

