"""The school admin console's reads on real PostgreSQL and RabbitMQ (issue 15): the pushed
batches newest first with their rejections (index and reason, never a value); the periods
with data and the published reports, embargoed ones too; the school's students by name with
their links' states; every open or past subject request with its deadline. Each for the
school's own admin (ingest's batches also for its system); anyone else, another school's
admin included, gets the 404 an unknown id gets or an empty list of their own.

All six services run in this process (tests/system.py), one world per module."""
from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace

import pytest

from shared.config import SERVICES
from tests.support import wait_for
from tests.system import RealSystem, guardian, student

pytestmark = pytest.mark.integration

PERIOD = "2026 Autumn"


def _ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.json)
    return response.json


@pytest.fixture(scope="module")
def world(module_settings, tmp_path_factory, module_database):
    system = RealSystem(module_settings, tmp_path_factory.mktemp("admin-console"),
                        module_database, list(SERVICES))
    try:
        a_school, a_system = system.school("School A")
        b_school, b_system = system.school("School B")
        system.push(a_system, [
            student("S1", "2013-11-07", given_name="Alba", family_name="Ames"),
            student("S2", "2014-06-01", given_name="Bruno", family_name="Bell"),
            {"type": "class.upserted", "source_id": "C1", "data": {
                "name": "7 Maths", "subject": "Maths", "teacher_ids": [],
                "student_ids": ["S1", "S2"]}},
            {"type": "attainment.recorded", "source_id": "A1", "data": {
                "student_id": "S1", "class_id": "C1", "period": PERIOD, "kind": "grade",
                "value": "B"}},
            {"type": "attainment.recorded", "source_id": "A2", "data": {
                "student_id": "S2", "class_id": "C1", "period": PERIOD, "kind": "grade",
                "value": "C"}},
            guardian("GP", "p@a.example.org", {"S1": True, "S2": True})])
        system.push(b_system, [student("SB1", "2013-02-02", given_name="Dara",
                                       family_name="Dunn")])
        sid = {name: system.tap.wait("StudentRecorded", lambda d, n=given:
                                     d["given_name"] == n)["data"]["student_id"]
               for name, given in (("S1", "Alba"), ("S2", "Bruno"))}
        w = SimpleNamespace(system=system, a_school=a_school, b_school=b_school,
                            a_system=a_system, b_system=b_system, sid=sid,
                            parent=system.activate("p@a.example.org"),
                            a_admin=system.admin(a_school, "admin@a.example.org"),
                            b_admin=system.admin(b_school, "admin@b.example.org"))
        yield w
    finally:
        system.close()


def _refused_alike(w, service, path, query=None):
    """Callers who are not school A's admin: the same 404 as an unknown path id gets."""
    for token in (w.parent, w.system.operator):
        response = w.system.call(service, "get", path, token, query=query)
        assert response.status_code == 404, (path, response.status_code, response.json)
        assert response.json["error"]["code"] == "not_found"


# --- ingest: the batch ledger ----------------------------------------------------------------
def test_the_batches_newest_first_with_each_rejection_by_index_and_reason(world):
    w, call = world, world.system.call
    mistake = f"mistake-{uuid.uuid4().hex[:6]}"
    answer = _ok(call("ingest", "post", "/api/v1/school-data/batches", w.a_system, {
        "batch_id": mistake, "events": [
            student("S1", "2013-11-07", given_name="Alba", family_name="Ames"),
            student("S9", "2015-02-30", given_name="Secret", family_name="Value"),
            {"type": "nonsense.upserted", "source_id": "X", "data": {}}]}), 202)
    assert [r["index"] for r in answer["rejected"]] == [1, 2]

    listing = _ok(call("ingest", "get", "/api/v1/school-data/batches", w.a_admin))
    assert listing["items"][0]["batch_id"] == mistake  # newest first
    assert listing["items"][0] == {
        "batch_id": mistake, "source": "push", "events": 3, "accepted": 1,
        "rejected_count": 2, "received_at": listing["items"][0]["received_at"]}
    assert len(listing["items"]) == 2 and listing["next"] is None
    # Pages of one: the same batches, in the same order, then no next.
    first = _ok(call("ingest", "get", "/api/v1/school-data/batches", w.a_admin,
                     query={"limit": 1}))
    second = _ok(call("ingest", "get", "/api/v1/school-data/batches", w.a_admin,
                      query={"limit": 1, "after": first["next"]}))
    assert [i["batch_id"] for i in first["items"] + second["items"]] == [
        i["batch_id"] for i in listing["items"]]
    assert second["next"] is None

    detail = _ok(call("ingest", "get", f"/api/v1/school-data/batches/{mistake}", w.a_admin))
    assert detail["rejected"] == answer["rejected"]
    assert all(set(r) == {"index", "error", "source_id"} for r in detail["rejected"])
    # Each rejected event's own source id, so the school finds the record (issue 24).
    assert [r["source_id"] for r in detail["rejected"]] == ["S9", "X"]
    assert "Secret" not in str(detail) and "2015-02-30" not in str(detail)  # no values
    # The school's own system reads its ledger too.
    assert _ok(call("ingest", "get", f"/api/v1/school-data/batches/{mistake}",
                    w.a_system))["batch_id"] == mistake

    # Another school's admin and system: their own (empty of A's) list, 404 for A's batch.
    for token in (w.b_admin, w.b_system):
        theirs = _ok(call("ingest", "get", "/api/v1/school-data/batches", token))["items"]
        assert mistake not in [i["batch_id"] for i in theirs]
        unknown = call("ingest", "get", "/api/v1/school-data/batches/no-such-batch", token)
        refused = call("ingest", "get", f"/api/v1/school-data/batches/{mistake}", token)
        assert refused.status_code == 404 and refused.json == unknown.json
    _refused_alike(w, "ingest", "/api/v1/school-data/batches")
    _refused_alike(w, "ingest", f"/api/v1/school-data/batches/{mistake}")
    # An admin naming another school gets the 404 an unknown school gets.
    named = call("ingest", "get", "/api/v1/school-data/batches", w.b_admin,
                 query={"school_id": w.a_school})
    assert named.status_code == 404


# --- reports: periods and the published reports --------------------------------------------
def test_the_periods_and_the_published_reports_embargoed_ones_included(world):
    w, call = world, world.system.call
    periods = wait_for(lambda: (lambda items: items if items and items[0]["students"] == 2
                                else None)(_ok(call("reports", "get", "/api/v1/reports/periods",
                                                    w.a_admin))["items"]),
                       message="reports has the period's data")
    assert periods == [{"period": PERIOD, "students": 2, "reports": 0,
                        "last_published_at": None, "parents": 0}]  # links still pending
    assert _ok(call("reports", "post", "/api/v1/reports/publish", w.a_admin,
                    {"period": PERIOD, "title": "Autumn"}), 202)["published"] == 2
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).isoformat()
    assert _ok(call("reports", "post", "/api/v1/reports/publish", w.a_admin,
                    {"period": PERIOD, "title": "Spring preview", "visible_from": later}),
               202)["published"] == 2

    listing = _ok(call("reports", "get", "/api/v1/reports", w.a_admin))["items"]
    assert len(listing) == 4
    assert {(r["title"], r["visible"], r["version"]) for r in listing} == {
        ("Autumn", True, 1), ("Spring preview", False, 2)}
    assert {r["student"]["name"] for r in listing} == {"Alba Ames", "Bruno Bell"}
    assert [r["title"] for r in listing[:2]] == ["Spring preview"] * 2  # newest first
    # The admin previews an embargoed report as parents will see it.
    embargoed = listing[0]["id"]
    assert _ok(call("reports", "get", f"/api/v1/reports/{embargoed}", w.a_admin))[
        "title"] == "Spring preview"
    paged, after = [], None
    for _ in range(5):
        page = _ok(call("reports", "get", "/api/v1/reports", w.a_admin,
                        query={"limit": 3, **({"after": after} if after else {})}))
        paged += page["items"]
        after = page["next"]
        if not after:
            break
    assert [r["id"] for r in paged] == [r["id"] for r in listing]
    assert _ok(call("reports", "get", "/api/v1/reports", w.a_admin,
                    query={"period": "2025 Summer"}))["items"] == []
    periods = _ok(call("reports", "get", "/api/v1/reports/periods", w.a_admin))["items"]
    assert periods[0]["reports"] == 4 and periods[0]["last_published_at"]

    assert _ok(call("reports", "get", "/api/v1/reports", w.b_admin))["items"] == []
    assert _ok(call("reports", "get", "/api/v1/reports/periods", w.b_admin))["items"] == []
    for path in ("/api/v1/reports", "/api/v1/reports/periods"):
        _refused_alike(w, "reports", path)
        assert call("reports", "get", path, w.b_admin,
                    query={"school_id": w.a_school}).status_code == 404
    assert call("reports", "get", "/api/v1/reports", w.a_admin,
                query={"after": str(uuid.uuid4())}).status_code == 404  # not a cursor


# --- linking: the school's students by name -------------------------------------------------
def test_the_students_by_name_with_their_links_states(world):
    w, call = world, world.system.call
    students = wait_for(lambda: (lambda items: items if len(items) == 2 and all(
        i["links"]["pending"] == 1 for i in items) else None)(_ok(call(
            "linking", "get", "/api/v1/links/students", w.a_admin))["items"]),
        message="linking has both students and their links")
    assert [s["name"] for s in students] == ["Alba Ames", "Bruno Bell"]
    assert students[0]["links"] == {"pending": 1, "verified": 0, "locked": 0, "revoked": 0}
    found = _ok(call("linking", "get", "/api/v1/links/students", w.a_admin,
                     query={"name": "BRU"}))["items"]
    assert [s["id"] for s in found] == [w.sid["S2"]]
    one = _ok(call("linking", "get", "/api/v1/links/students", w.a_admin,
                   query={"id": w.sid["S1"]}))["items"]
    assert [s["name"] for s in one] == ["Alba Ames"]
    assert _ok(call("linking", "get", "/api/v1/links/students", w.b_admin,
                    query={"id": w.sid["S1"]}))["items"] == []  # not B's student
    assert _ok(call("linking", "get", "/api/v1/links/students", w.a_admin,
                    query={"name": "%"}))["items"] == []  # a wildcard is a character
    first = _ok(call("linking", "get", "/api/v1/links/students", w.a_admin,
                     query={"limit": 1}))
    second = _ok(call("linking", "get", "/api/v1/links/students", w.a_admin,
                      query={"limit": 1, "after": first["next"]}))
    assert [s["id"] for s in first["items"] + second["items"]] == [
        w.sid["S1"], w.sid["S2"]] and second["next"] is None

    # Three wrong answers lock the parent's link to S2: the admin finds it by its state.
    link = next(i for i in _ok(call("linking", "get", "/api/v1/links", w.parent))["items"]
                if i["student"]["id"] == w.sid["S2"])
    for _ in range(3):
        wait_for(lambda: call("linking", "post", f"/api/v1/links/{link['id']}/verify",
                              w.parent, {"date_of_birth": "2000-01-01"}).status_code in (
            422, 423), message="a counted wrong answer")
    locked = _ok(call("linking", "get", "/api/v1/links/students", w.a_admin,
                      query={"link_status": "locked"}))["items"]
    assert [s["id"] for s in locked] == [w.sid["S2"]] and locked[0]["links"]["locked"] == 1
    row = _ok(call("linking", "get", "/api/v1/links", w.a_admin,
                   query={"student_id": w.sid["S2"]}))["items"][0]
    assert row["student"] == {"id": w.sid["S2"], "name": "Bruno Bell"}
    assert row["relationship"] == "parent" and row["status"] == "locked"
    assert row["changed_at"]

    assert [s["name"] for s in _ok(call("linking", "get", "/api/v1/links/students",
                                        w.b_admin))["items"]] == ["Dara Dunn"]  # B's own
    _refused_alike(w, "linking", "/api/v1/links/students")
    assert call("linking", "get", "/api/v1/links/students", w.b_admin,
                query={"school_id": w.a_school}).status_code == 404
    assert call("linking", "get", "/api/v1/links/students", w.a_admin,
                query={"link_status": "lost"}).status_code == 422


# --- dsar: every open request, and all ------------------------------------------------------
def test_the_open_and_all_requests_with_their_deadlines(world):
    w, call = world, world.system.call
    yourself = wait_for(lambda: next((s for s in _ok(call(
        "dsar", "get", "/api/v1/subject-requests/subjects", w.parent))["items"]
        if s["yourself"]), None), message="dsar knows the parent's own record")
    filed = _ok(call("dsar", "post", "/api/v1/subject-requests", w.parent, {
        "kind": "access", "subject": {"type": yourself["type"], "id": yourself["id"]}}), 201)
    by_admin = _ok(call("dsar", "post", "/api/v1/subject-requests", w.a_admin, {
        "kind": "rectification", "subject": {"type": "student", "id": w.sid["S1"]}}), 201)
    refused = _ok(call("dsar", "post", "/api/v1/subject-requests", w.parent, {
        "kind": "erasure", "subject": {"type": yourself["type"], "id": yourself["id"]}}), 201)
    _ok(call("dsar", "post", f"/api/v1/subject-requests/{refused['id']}/refuse", w.a_admin,
             {"reason": "Not from the account holder"}))

    open_ = _ok(call("dsar", "get", "/api/v1/subject-requests", w.a_admin,
                     query={"scope": "open"}))["items"]
    assert [r["id"] for r in open_] == [by_admin["id"], filed["id"]]  # newest first
    mine = open_[1]
    assert mine["status"] == "awaiting_school" and mine["filed_as"] == "parent"
    assert mine["overdue"] is False and mine["days_left"] >= 27
    assert mine["extension_months"] == 0 and mine["export_available"] is False
    every = _ok(call("dsar", "get", "/api/v1/subject-requests", w.a_admin,
                     query={"scope": "all"}))
    assert [r["id"] for r in every["items"]] == [refused["id"], by_admin["id"], filed["id"]]
    first = _ok(call("dsar", "get", "/api/v1/subject-requests", w.a_admin,
                     query={"scope": "all", "limit": 2}))
    rest = _ok(call("dsar", "get", "/api/v1/subject-requests", w.a_admin,
                    query={"scope": "all", "limit": 2, "after": first["next"]}))
    assert [r["id"] for r in first["items"] + rest["items"]] == [
        r["id"] for r in every["items"]] and rest["next"] is None
    # The default is the overdue list, as before; nothing is overdue yet.
    assert _ok(call("dsar", "get", "/api/v1/subject-requests", w.a_admin))["items"] == []
    # The parent still gets the requests they filed, whatever the scope says.
    assert {r["id"] for r in _ok(call("dsar", "get", "/api/v1/subject-requests",
                                      w.parent))["items"]} == {filed["id"], refused["id"]}

    extended = _ok(call("dsar", "post", f"/api/v1/subject-requests/{filed['id']}/extend",
                        w.a_admin, {"months": 1, "reason": "Many records"}))
    assert extended["extension_months"] == 1 and extended["extension_reason"] == \
        "Many records"
    assert _ok(call("dsar", "get", "/api/v1/subject-requests", w.b_admin,
                    query={"scope": "all"}))["items"] == []
    assert call("dsar", "get", "/api/v1/subject-requests", w.a_admin,
                query={"scope": "mine"}).status_code == 422
    assert call("dsar", "get", "/api/v1/subject-requests", w.b_admin,
                query={"scope": "all", "after": filed["id"]}).status_code == 404


# --- identity: the names of the school's own people (issue 24) ------------------------------
def test_the_admin_names_the_schools_own_people_and_never_another_schools(world):
    """dsar and the audit trail keep ids: the console asks identity for the names, in one
    call for many ids. The person's name is the one this school recorded; the same login
    at school B, named otherwise there, is never named to A's admin by B's record; B's
    people are unknown to A's admin, and everyone but A's admin gets the 404 an unknown
    school gets."""
    w, call = world, world.system.call
    me = {name: _ok(call("identity", "get", "/api/v1/me", token))
          for name, token in (("parent", w.parent), ("a_admin", w.a_admin),
                              ("b_admin", w.b_admin))}
    guardian_event = w.system.tap.wait("GuardianRecorded", lambda d: d["email"] ==
                                       "p@a.example.org")
    # The same parent is a contact at school B too, under another name and record.
    w.system.push(w.b_system, [{"type": "guardian.upserted", "source_id": "GB", "data": {
        "given_name": "Patricia", "family_name": "Bee-Name", "email": "p@a.example.org",
        "students": [{"student_id": "SB1", "relationship": "aunt",
                      "receives_reports": True}]}}])
    b_guardian = w.system.tap.wait("GuardianRecorded", lambda d: d["given_name"] ==
                                   "Patricia")["data"]["guardian_id"]
    path = f"/api/v1/schools/{w.a_school}/people"
    ids = {"account_id": [me["parent"]["id"], me["a_admin"]["id"], me["b_admin"]["id"]],
           "guardian_id": [guardian_event["data"]["guardian_id"], b_guardian]}
    people = wait_for(lambda: (lambda items: items if len(items) == 2 else None)(
        _ok(call("identity", "get", path, w.a_admin, query=ids))["items"]),
        message="identity names A's parent and admin")
    assert sorted((p["role"], p["name"]) for p in people) == [
        ("parent", "Pat Smith"), ("school_admin", "School Admin")]
    parent = next(p for p in people if p["role"] == "parent")
    assert parent["account_id"] == me["parent"]["id"]
    assert parent["guardian_id"] == guardian_event["data"]["guardian_id"]
    assert "Patricia" not in str(people) and b_guardian not in str(people)

    # B's admin asking of B's people names B's record (by its id), not A's; the login
    # is not B's by its account id until the person accepts B's invitation.
    b_people = wait_for(lambda: (lambda items: items if len(items) == 2 else None)(_ok(call(
        "identity", "get", f"/api/v1/schools/{w.b_school}/people", w.b_admin,
        query=ids))["items"]), message="identity has B's record of the parent")
    assert sorted((p["name"], p["guardian_id"]) for p in b_people) == [
        ("Patricia Bee-Name", b_guardian), ("School Admin", None)]
    assert "Pat Smith" not in str(b_people)

    # Another school's path: the 404 an unknown school gets; parents and the operator too.
    unknown = call("identity", "get", f"/api/v1/schools/{uuid.uuid4()}/people", w.b_admin,
                   query=ids)
    assert unknown.status_code == 404
    for token in (w.b_admin, w.parent, w.system.operator, w.a_system):
        refused = call("identity", "get", path, token, query=ids)
        assert refused.status_code == 404 and refused.json == unknown.json, refused.json
    # Bounded, and no ids asks nothing.
    assert call("identity", "get", path, w.a_admin, query={
        "account_id": [str(uuid.uuid4()) for _ in range(101)]}).status_code == 422
    assert _ok(call("identity", "get", path, w.a_admin))["items"] == []


def test_a_links_contact_login_is_shown_to_the_admin_only(world):
    """The admin's links carry the contact's login (to name who filed a request and their
    relationship to the child); a parent's own links do not."""
    w, call = world, world.system.call
    me = _ok(call("identity", "get", "/api/v1/me", w.parent))
    rows = wait_for(lambda: (lambda items: items if items and items[0]["account_id"]
                             else None)(_ok(call("linking", "get", "/api/v1/links", w.a_admin,
                                                 query={"student_id": w.sid["S1"]}))["items"]),
                    message="linking knows the parent's login")
    assert [(r["account_id"], r["relationship"]) for r in rows] == [(me["id"], "parent")]
    own = _ok(call("linking", "get", "/api/v1/links", w.parent))["items"]
    assert own and all("account_id" not in link for link in own)
    named = _ok(call("linking", "get", "/api/v1/links/students", w.a_admin,
                     query={"id": [w.sid["S1"], w.sid["S2"]]}))["items"]
    assert [s["name"] for s in named] == ["Alba Ames", "Bruno Bell"]
