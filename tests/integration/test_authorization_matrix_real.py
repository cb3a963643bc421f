"""The authorization matrix (issue "Hardening"): for every endpoint that takes an id in its
path, every kind of caller (parents, students, school admins, school systems, the operator,
and everyone of a second school) either reaches school A's object, or gets a 404 with
exactly the body a random id gets (existence never leaks).

The operations come from the services' own OpenAPI documents: an id-bearing operation with
no row in RULES fails the suite, so a new endpoint cannot escape the matrix. Mutating
operations are called by the refused callers first, and the object is checked unchanged
(through an allowed caller's read, or the service's database where no read exists); the
allowed callers go last, or act on throwaway objects.

All six services run in this process on real PostgreSQL and RabbitMQ (tests/system.py),
one world per module."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable

import pytest
import sqlalchemy as sa

from shared.config import SERVICES
from tests.oneroster_sample import zip_bundle
from tests.passkey_authenticator import SoftAuthenticator
from tests.support import wait_for
from tests.system import RealSystem, guardian, student

pytestmark = pytest.mark.integration

PERIOD = "2026 Autumn"
DOB = {"S1": "2013-11-07", "S2": "2014-06-01", "S3": "2012-01-15", "SB1": "2013-02-02"}
WRONG_DOB = "2000-01-01"
STUDENT_PASSWORD = "a-student-password-1"
PARENT_PASSWORD = "a-parent-password-1"  # RealSystem.activate's

# Every caller the matrix tries. "A_parent" has a verified link to S1; "A_other_parent" is a
# parent at the same school with a pending link to S1, a verified one to S2 and a locked one
# to S3; "A_revoked_parent" had a verified link to S1 that the school revoked; "A_student"
# is S1's own login, "A_other_student" S2's. School B has one of each.
CALLERS = ("operator", "A_admin", "A_system", "A_parent", "A_other_parent",
           "A_revoked_parent", "A_student", "A_other_student", "B_admin", "B_system",
           "B_parent", "B_student")
OK = (200, 201, 202, 204)


def _scalar(system, service, sql, **params):
    with system.runtimes[service].engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def _ok(response, *statuses):
    assert response.status_code in (statuses or OK), (response.status_code, response.json)
    return response.json


# --- the world ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(module_settings, tmp_path_factory, module_database):
    system = RealSystem(module_settings, tmp_path_factory.mktemp("authz"), module_database,
                        list(SERVICES))
    try:
        yield _build_world(system)
    finally:
        system.close()


def _build_world(system: RealSystem) -> SimpleNamespace:
    call, op = system.call, system.operator
    a_school, a_system = system.school("School A")
    b_school, b_system = system.school("School B")
    for school in (a_school, b_school):
        _ok(call("identity", "patch", f"/api/v1/schools/{school}", op,
                 {"student_accounts": True}), 200)
    system.push(a_system, [
        {"type": "staff.upserted", "source_id": "T1", "data": {
            "title": "Ms", "given_name": "Ada", "family_name": "Byron"}},
        student("S1", DOB["S1"], given_name="Alba", family_name="Ames",
                email="alba@a.example.org"),
        student("S2", DOB["S2"], given_name="Bruno", family_name="Bell",
                email="bruno@a.example.org"),
        student("S3", DOB["S3"], given_name="Cleo", family_name="Cole"),
        {"type": "class.upserted", "source_id": "C1", "data": {
            "name": "7 Maths", "subject": "Maths", "teacher_ids": ["T1"],
            "student_ids": ["S1", "S2", "S3"]}},
        {"type": "attainment.recorded", "source_id": "A1", "data": {
            "student_id": "S1", "class_id": "C1", "period": PERIOD, "kind": "grade",
            "value": "B+"}},
        {"type": "attainment.recorded", "source_id": "A2", "data": {
            "student_id": "S2", "class_id": "C1", "period": PERIOD, "kind": "grade",
            "value": "C"}},
        guardian("GP", "p@a.example.org", {"S1": True}),
        guardian("GQ", "q@a.example.org", {"S1": True, "S2": True, "S3": True}),
        guardian("GR", "r@a.example.org", {"S1": True}),
        guardian("GX", "x@a.example.org", {"S2": True})])  # a link to revoke
    system.push(b_system, [
        student("SB1", DOB["SB1"], given_name="Dara", family_name="Dunn",
                email="dara@b.example.org"),
        guardian("GB", "pb@b.example.org", {"SB1": True})])
    sid = {name: system.tap.wait("StudentRecorded", lambda d, n=given: d["given_name"] == n
                                 )["data"]["student_id"]
           for name, given in (("S1", "Alba"), ("S2", "Bruno"), ("S3", "Cleo"),
                               ("SB1", "Dara"))}
    tokens = {
        "operator": op, "A_system": a_system, "B_system": b_system,
        "A_parent": system.activate("p@a.example.org"),
        "A_other_parent": system.activate("q@a.example.org"),
        "A_revoked_parent": system.activate("r@a.example.org"),
        "A_student": system.activate("alba@a.example.org", STUDENT_PASSWORD),
        "A_other_student": system.activate("bruno@a.example.org", STUDENT_PASSWORD),
        "B_parent": system.activate("pb@b.example.org"),
        "B_student": system.activate("dara@b.example.org", STUDENT_PASSWORD),
        "A_admin": system.admin(a_school, "admin@a.example.org"),
        "B_admin": system.admin(b_school, "admin@b.example.org"),
    }
    me = {name: _ok(call("identity", "get", "/api/v1/me", token), 200)
          for name, token in tokens.items()}
    # Every caller's token is good: the 404s below are about the objects, not the tokens.
    assert {n: (m["role"], m["school_ids"]) for n, m in me.items() if n != "operator"} == {
        "A_system": ("school_system", [a_school]), "B_system": ("school_system", [b_school]),
        "A_parent": ("parent", [a_school]), "A_other_parent": ("parent", [a_school]),
        "A_revoked_parent": ("parent", [a_school]),
        "A_student": ("student", [a_school]), "A_other_student": ("student", [a_school]),
        "B_parent": ("parent", [b_school]), "B_student": ("student", [b_school]),
        "A_admin": ("school_admin", [a_school]), "B_admin": ("school_admin", [b_school])}
    assert me["operator"]["role"] == "operator"

    def links_of(token, count):
        return wait_for(lambda: (lambda items: {i["student"]["id"]: i["id"] for i in items}
                                 if len(items) == count else None)(
            call("linking", "get", "/api/v1/links", token).json["items"]),
            message=f"{count} link(s)")

    def answer(token, link_id, dob):
        return call("linking", "post", f"/api/v1/links/{link_id}/verify", token,
                    {"date_of_birth": dob})

    def verified(token, link_id, dob):  # 409 until linking has the child's date of birth
        wait_for(lambda: answer(token, link_id, dob).status_code == 200,
                 message="link verified")

    p_links = links_of(tokens["A_parent"], 1)
    q_links = links_of(tokens["A_other_parent"], 3)
    r_links = links_of(tokens["A_revoked_parent"], 1)
    b_links = links_of(tokens["B_parent"], 1)
    verified(tokens["A_parent"], p_links[sid["S1"]], DOB["S1"])
    verified(tokens["A_revoked_parent"], r_links[sid["S1"]], DOB["S1"])
    verified(tokens["A_other_parent"], q_links[sid["S2"]], DOB["S2"])
    verified(tokens["B_parent"], b_links[sid["SB1"]], DOB["SB1"])
    wait_for(lambda: answer(tokens["A_other_parent"], q_links[sid["S3"]], WRONG_DOB
                            ).status_code == 422, message="a counted wrong answer")
    for _ in range(2):
        assert answer(tokens["A_other_parent"], q_links[sid["S3"]], WRONG_DOB
                      ).status_code == 422
    admin = tokens["A_admin"]

    def link_row(student_id, link_id):
        items = _ok(call("linking", "get", "/api/v1/links", admin,
                         query={"student_id": student_id}), 200)["items"]
        return next(i for i in items if i["id"] == link_id)
    assert link_row(sid["S3"], q_links[sid["S3"]])["status"] == "locked"
    # Verified, read by reports, then revoked by the school: the access it had is gone.
    wait_for(lambda: _scalar(system, "reports", "SELECT count(*) FROM parent_access WHERE "
                                                "account_id=:a AND verified",
                             a=me["A_revoked_parent"]["id"]) == 1,
             message="reports knows the soon revoked parent")
    assert _ok(call("linking", "post", f"/api/v1/links/{r_links[sid['S1']]}/revoke", admin),
               200)["status"] == "revoked"
    wait_for(lambda: _scalar(system, "reports", "SELECT count(*) FROM parent_access WHERE "
                                                "account_id=:a AND NOT verified",
                             a=me["A_revoked_parent"]["id"]) == 1,
             message="reports knows of the revocation")
    gx_link = wait_for(lambda: next((i["id"] for i in _ok(call(
        "linking", "get", "/api/v1/links", admin, query={"student_id": sid["S2"]}), 200
    )["items"] if i["id"] != q_links[sid["S2"]]), None), message="GX's link")

    wait_for(lambda: _scalar(system, "reports", "SELECT count(*) FROM parent_access WHERE "
                                                "verified") == 3
             and _scalar(system, "reports", "SELECT count(*) FROM student_accounts") == 3
             and _scalar(system, "reports", "SELECT count(*) FROM attainment") == 2,
             message="reports knows readers and data")
    assert _ok(call("reports", "post", "/api/v1/reports/publish", admin,
                    {"period": PERIOD, "title": "Autumn"}), 202)["published"] == 2
    report = _ok(call("reports", "get", f"/api/v1/students/{sid['S1']}/reports", admin),
                 200)["items"][0]["id"]

    w = SimpleNamespace(system=system, tokens=tokens, a_school=a_school, b_school=b_school,
                        sid=sid, report=report, p_links=p_links, q_links=q_links,
                        gx_link=gx_link, link_row=link_row)
    wait_for(lambda: _scalar(system, "dsar", "SELECT count(*) FROM own_subjects WHERE "
                                             "account_id=:a AND subject_id=:s",
                             a=me["A_parent"]["id"], s=sid["S1"]) == 1,
             message="dsar knows the parent's verified child")
    w.main_request = parent_request(w)
    access = _ok(call("dsar", "post", "/api/v1/subject-requests", admin, {
        "kind": "access", "subject": {"type": "student", "id": sid["S1"]}}), 201)["id"]
    wait_for(lambda: call("dsar", "get", f"/api/v1/subject-requests/{access}", admin
                          ).json["status"] == "completed", timeout=60,
             message="the access request completed")
    w.access_request = access
    return w


def audit_steps(w, request_id) -> list[str]:
    return [s["step"] for s in _ok(w.system.call(
        "dsar", "get", f"/api/v1/subject-requests/{request_id}/audit", w.tokens["A_admin"]),
        200)["items"]]


def parent_request(w) -> str:
    """An access request by A's verified parent about S1: awaiting the school, its subject
    id confirmed by ingest (so nothing changes it on its own any more)."""
    request = _ok(w.system.call("dsar", "post", "/api/v1/subject-requests",
                                w.tokens["A_parent"], {
                                    "kind": "access",
                                    "subject": {"type": "student", "id": w.sid["S1"]}}), 201)
    assert request["status"] == "awaiting_school"
    wait_for(lambda: "resolved" in audit_steps(w, request["id"]), message="id resolved")
    return request["id"]


def admin_rectification(w) -> str:
    """A rectification by A's admin, in progress as a task for the school."""
    request = _ok(w.system.call("dsar", "post", "/api/v1/subject-requests",
                                w.tokens["A_admin"], {
                                    "kind": "rectification",
                                    "subject": {"type": "student", "id": w.sid["S2"]}}), 201)
    wait_for(lambda: "task_for_school" in audit_steps(w, request["id"]),
             message="rectification waiting for the school")
    return request["id"]


# --- the rules ----------------------------------------------------------------------------------
@dataclass
class Rule:
    """How to fill one operation's path ids with school A's objects, and who may reach them.

    `allowed`: caller -> the statuses that caller may get (2xx, or a documented 4xx for a
    state reason: it got past the authorization). Everyone else in CALLERS gets 404, with
    the body a random id gets. `state` is read before and after the refused calls and must
    not change; `after` checks what the allowed calls did (proving `state` would have seen
    a change). `throwaway` gives the allowed callers objects of their own."""
    fill: Callable[[Any], dict]
    allowed: dict[str, tuple[int, ...]]
    body: Callable[[str, bool], Any] | None = None
    state: Callable[[Any, dict], Any] | None = None
    after: Callable[[Any, dict, Any], None] | None = None
    throwaway: Callable[[Any], dict] | None = None


def _must(condition, message: str) -> None:
    assert condition, message


def _school_row(w, ids):
    with w.system.runtimes["identity"].engine.connect() as conn:
        return tuple(conn.execute(sa.text(
            "SELECT name, student_accounts, status FROM schools WHERE id=:s"),
            {"s": ids["school_id"]}).one())


def _new_school(w):
    school = _ok(w.system.call("identity", "post", "/api/v1/schools", w.system.operator,
                               {"name": "Throwaway"}), 201)["id"]
    return {"school_id": school}


def _offboarded_school(w):
    """A throwaway school, offboarded, once dsar tracks its offboarding."""
    school = _new_school(w)["school_id"]
    _ok(w.system.call("identity", "delete", f"/api/v1/schools/{school}", w.system.operator),
        202)
    wait_for(lambda: w.system.call("dsar", "get", f"/api/v1/offboardings/{school}",
                                   w.system.operator).status_code == 200,
             message="dsar tracks the offboarding")
    return {"school_id": school}


def _completed_offboarding(w):
    """A throwaway school whose offboarding every service has confirmed (its certificate
    exists only then)."""
    ids = _offboarded_school(w)
    wait_for(lambda: w.system.call("dsar", "get", f"/api/v1/offboardings/{ids['school_id']}",
                                   w.system.operator).json.get("status") == "completed",
             timeout=60, message="every service confirmed the offboarding")
    return ids


def _roster_job(w):
    """A OneRoster upload by A's school system: a delta of one org, which changes no one."""
    bundle = zip_bundle({"orgs": ("delta", [{"sourcedId": f"ORG-{uuid.uuid4().hex[:8]}",
                                             "name": "Matrix Annex", "type": "school"}])})
    response = w.system.clients["ingest"].post(
        "/api/v1/school-data/oneroster", data=bundle, content_type="application/zip",
        headers={"Authorization": f"Bearer {w.tokens['A_system']}"})
    assert response.status_code == 202, response.json
    return {"job_id": response.json["job_id"]}


def _new_client(w):
    client = _ok(w.system.call("identity", "post",
                               f"/api/v1/schools/{w.a_school}/clients", w.system.operator),
                 201)
    return {"school_id": w.a_school, "client_id": client["client_id"], "secret":
            client["client_secret"]}


def _client_grant(w, ids):
    return w.system.call("identity", "post", "/api/v1/auth/token", json={
        "grant_type": "client_credentials", "client_id": ids["client_id"],
        "client_secret": ids["secret"]}).status_code


def _pending_staff(w):
    account = _ok(w.system.call("identity", "post", f"/api/v1/schools/{w.a_school}/staff",
                                w.system.operator, {
                                    "name": "Pending Staff",
                                    "email": f"pending-{uuid.uuid4().hex[:8]}@a.example.org",
                                    "role": "school_admin"}), 201)["id"]
    return {"account_id": account}


def _enrolled_admin(w):
    """Another admin of school A, who passed the second factor (enrolled): a login whose
    factor the school's admins and the operator may reset (issue 25)."""
    token = w.system.admin(w.a_school, f"second-{uuid.uuid4().hex[:8]}@a.example.org")
    return {"account_id": _ok(w.system.call("identity", "get", "/api/v1/me", token),
                              200)["id"]}


def _factor_of(w, ids):
    return (_scalar(w.system, "identity", "SELECT count(*) FROM second_factors WHERE "
                                          "account_id=:a", a=ids["account_id"]),
            _scalar(w.system, "identity", "SELECT count(*) FROM second_factor_resets WHERE "
                                          "account_id=:a", a=ids["account_id"]))


def _parents_passkey(w):
    """A passkey A's parent adds (issue 25; the password given again, as a parent does),
    from a software authenticator: theirs alone to remove."""
    token, call = w.tokens["A_parent"], w.system.call
    begun = _ok(call("identity", "post", "/api/v1/auth/passkeys/registration", token,
                     {"password": PARENT_PASSWORD}), 201)
    device = SoftAuthenticator(w.system.settings.passkey_origins[0])
    added = _ok(call("identity", "post", "/api/v1/auth/passkeys", token, {
        "challenge_id": begun["challenge_id"], "name": "Matrix phone",
        "credential": device.create(begun["options"])}), 201)
    return {"passkey_id": added["id"]}


def _passkey_kept(w, ids):
    return _scalar(w.system, "identity", "SELECT count(*) FROM passkeys WHERE id=:p",
                   p=ids["passkey_id"])


def _invitations(w, ids):
    return (_scalar(w.system, "identity", "SELECT count(*) FROM invitations WHERE "
                                          "account_id=:a", a=ids["account_id"]),
            _scalar(w.system, "identity", "SELECT count(*) FROM mail_sends WHERE "
                                          "account_id=:a", a=ids["account_id"]))


def _staff_invited(w, ids):
    return _scalar(w.system, "identity", "SELECT count(*) FROM accounts WHERE email LIKE "
                                         "'matrix-staff-%'")


def _grants(w, ids):
    return _scalar(w.system, "identity", "SELECT count(*) FROM client_schools WHERE "
                   "client_id=:c", c=ids["client_id"])


def _clients_of_a(w, ids):
    return _scalar(w.system, "identity", "SELECT count(*) FROM clients WHERE school_id=:s "
                                         "AND revoked_at IS NULL", s=ids["school_id"])


def _link(student):
    def state(w, ids):
        row = w.link_row(w.sid[student], ids["link_id"])
        return row["status"], row["failed_attempts"]
    return state


def _dsar_state(w, ids):
    view = _ok(w.system.call("dsar", "get", f"/api/v1/subject-requests/{ids['request_id']}",
                             w.tokens["A_admin"]), 200)
    return view, audit_steps(w, ids["request_id"])


def _expect(**checks):
    """after(): the request's status (and audit) changed as the allowed call said."""
    def after(w, ids, before):
        view, steps = _dsar_state(w, ids)
        for key, value in checks.items():
            assert view[key] == value, (key, view)
        assert len(steps) > len(before[1])  # and it was audited
    return after


A = {"A_admin": OK}
S1_READERS = {"A_parent": (200,), "A_student": (200,), "A_admin": (200,)}


def _report_state(w, ids):
    """What correcting or withdrawing a report changes (issue 24)."""
    with w.system.runtimes["reports"].engine.connect() as conn:
        return tuple(conn.execute(sa.text(
            "SELECT replaced_by, withdrawn_at FROM reports WHERE id=:r"),
            {"r": ids["report_id"]}).one())


def _throwaway_report(w):
    """A report of S2's (whom no other rule reads) for the admin to correct or withdraw:
    a copy of S1's row under a new id, so school A's own report stays as it is."""
    report_id = str(uuid.uuid4())
    with w.system.runtimes["reports"].engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO reports (id, school_id, student_id, period, title, version, "
            "published_at, visible_from, announced, content, body) SELECT :new, school_id, "
            ":student, period, 'Throwaway', 99, published_at, visible_from, announced, "
            "content, NULL FROM reports WHERE id=:r"),
            {"new": report_id, "student": w.sid["S2"], "r": w.report})
    return {"report_id": report_id}

RULES: dict[tuple[str, str, str], Rule] = {
    # identity: the operator's school management; staff invitations also by the school's admin
    ("identity", "GET", "/api/v1/schools/{school_id}"): Rule(
        fill=lambda w: {"school_id": w.a_school}, allowed={"operator": (200,)}),
    ("identity", "PATCH", "/api/v1/schools/{school_id}"): Rule(
        fill=lambda w: {"school_id": w.a_school}, allowed={"operator": (200,)},
        body=lambda caller, allowed: ({"student_accounts": True} if allowed
                                      else {"name": f"Hijacked by {caller}",
                                            "student_accounts": False}),
        state=_school_row,
        after=lambda w, ids, before: _must(
            _school_row(w, ids) == ("School A", True, "active"), "the school changed")),
    ("identity", "DELETE", "/api/v1/schools/{school_id}"): Rule(
        fill=lambda w: {"school_id": w.a_school}, allowed={"operator": (202,)},
        state=_school_row, throwaway=_new_school,
        after=lambda w, ids, before: _must(
            _school_row(w, ids)[2] in ("offboarding", "offboarded"), "not offboarded")),
    ("identity", "POST", "/api/v1/schools/{school_id}/staff"): Rule(
        fill=lambda w: {"school_id": w.a_school},
        allowed={"operator": (201,), "A_admin": (201,)},
        body=lambda caller, allowed: {
            "name": "Matrix Staff", "role": "school_admin",
            "email": f"matrix-staff-{caller.lower()}-{uuid.uuid4().hex[:6]}@a.example.org"},
        state=_staff_invited,
        after=lambda w, ids, before: _must(
            _staff_invited(w, ids) == before + 2, "the allowed invitations were not made")),
    # the names of the school's own people, for its admin's console (issue 24)
    ("identity", "GET", "/api/v1/schools/{school_id}/people"): Rule(
        fill=lambda w: {"school_id": w.a_school}, allowed={"A_admin": (200,)}),
    ("identity", "POST", "/api/v1/accounts/{account_id}/invitation"): Rule(
        fill=_pending_staff, allowed={"operator": (202,), "A_admin": (202,)},
        state=_invitations,
        after=lambda w, ids, before: _must(
            _invitations(w, ids)[1] == before[1] + 2, "the allowed resends were not sent")),
    # the second factor's recovery (issue 25): the school's other admins and the operator
    # reset a school admin's factor (the second of them finds it reset already: 409)
    ("identity", "DELETE", "/api/v1/accounts/{account_id}/second-factor"): Rule(
        fill=_enrolled_admin, allowed={"operator": (200, 409), "A_admin": (200, 409)},
        state=_factor_of,
        after=lambda w, ids, before: _must(
            before[0] == 1 and _factor_of(w, ids) == (0, 1), "the factor was not reset")),
    # a passkey (issue 25): its owner alone removes it; every other login, of any role
    # and school, gets the 404 a random id gets, and the passkey stays
    ("identity", "DELETE", "/api/v1/auth/passkeys/{passkey_id}"): Rule(
        fill=_parents_passkey, allowed={"A_parent": (204,)}, state=_passkey_kept,
        # each caller proves who they are as when adding one: parents and students their
        # own password; staff and operators by their token's fresh second factor
        body=lambda caller, allowed: {} if "admin" in caller or caller == "operator" else {
            "password": STUDENT_PASSWORD if "student" in caller else PARENT_PASSWORD},
        after=lambda w, ids, before: _must(
            before == 1 and _passkey_kept(w, ids) == 0, "the passkey was not removed")),
    ("identity", "GET", "/api/v1/schools/{school_id}/second-factors"): Rule(
        fill=lambda w: {"school_id": w.a_school},
        allowed={"operator": (200,), "A_admin": (200,)}),
    ("identity", "GET", "/api/v1/schools/{school_id}/second-factor-resets"): Rule(
        fill=lambda w: {"school_id": w.a_school},
        allowed={"operator": (200,), "A_admin": (200,)}),
    ("identity", "POST", "/api/v1/schools/{school_id}/clients"): Rule(
        fill=lambda w: {"school_id": w.a_school}, allowed={"operator": (201,)},
        state=_clients_of_a,
        after=lambda w, ids, before: _must(
            _clients_of_a(w, ids) == before + 1, "no client was issued")),
    ("identity", "PUT",
     "/api/v1/schools/{school_id}/clients/{client_id}/schools/{other_school_id}"): Rule(
        fill=lambda w: {**_new_client(w), "other_school_id": w.b_school},
        allowed={"operator": (204,)}, state=_grants,
        after=lambda w, ids, before: _must(
            _grants(w, ids) == before + 1, "the client was not granted the school")),
    ("identity", "DELETE", "/api/v1/schools/{school_id}/clients/{client_id}"): Rule(
        fill=_new_client, allowed={"operator": (204,)}, state=_client_grant,
        after=lambda w, ids, before: _must(
            before == 200 and _client_grant(w, ids) == 401, "the client was not revoked")),
    # linking: a parent answers on their own link only; the school unlocks and revokes
    ("linking", "POST", "/api/v1/links/{link_id}/verify"): Rule(
        fill=lambda w: {"link_id": w.q_links[w.sid["S1"]]},
        allowed={"A_other_parent": (422,)},  # its owner, with a wrong answer: counted
        body=lambda caller, allowed: {"date_of_birth": WRONG_DOB},
        state=_link("S1"),
        after=lambda w, ids, before: _must(
            _link("S1")(w, ids) == ("pending", before[1] + 1), "the answer was not counted")),
    ("linking", "POST", "/api/v1/links/{link_id}/unlock"): Rule(
        fill=lambda w: {"link_id": w.q_links[w.sid["S3"]]}, allowed={"A_admin": (200,)},
        state=_link("S3"),
        after=lambda w, ids, before: _must(
            before[0] == "locked" and _link("S3")(w, ids) == ("pending", 0), "not unlocked")),
    ("linking", "POST", "/api/v1/links/{link_id}/revoke"): Rule(
        fill=lambda w: {"link_id": w.gx_link}, allowed={"A_admin": (200,)},
        state=_link("S2"),
        after=lambda w, ids, before: _must(
            before[0] == "pending" and _link("S2")(w, ids)[0] == "revoked", "not revoked")),
    # ingest: the batch ledger, for the school's admin and its own system
    ("ingest", "GET", "/api/v1/school-data/oneroster/jobs/{job_id}"): Rule(
        fill=_roster_job, allowed={"A_admin": (200,), "A_system": (200,)}),
    ("ingest", "GET", "/api/v1/school-data/batches/{batch_id}"): Rule(
        fill=lambda w: {"batch_id": _ok(w.system.call(
            "ingest", "get", "/api/v1/school-data/batches", w.tokens["A_admin"]),
            200)["items"][0]["batch_id"]},
        allowed={"A_admin": (200,), "A_system": (200,)}),
    # reports: a verified parent, the student's own login, the school's staff
    ("reports", "GET", "/api/v1/students/{student_id}/reports"): Rule(
        fill=lambda w: {"student_id": w.sid["S1"]}, allowed=S1_READERS),
    ("reports", "GET", "/api/v1/reports/{report_id}"): Rule(
        fill=lambda w: {"report_id": w.report}, allowed=S1_READERS),
    ("reports", "GET", "/api/v1/students/{student_id}/progress"): Rule(
        fill=lambda w: {"student_id": w.sid["S1"]}, allowed=S1_READERS),
    # reports: the school's admin corrects or withdraws a published report (issue 24)
    ("reports", "POST", "/api/v1/reports/{report_id}/correct"): Rule(
        fill=lambda w: {"report_id": w.report}, allowed={"A_admin": (200,)},
        body=lambda caller, allowed: {"notify": False}, state=_report_state,
        throwaway=_throwaway_report,
        after=lambda w, ids, before: _must(
            before == (None, None) and _report_state(w, ids)[0] is not None,
            "the report was not replaced")),
    ("reports", "POST", "/api/v1/reports/{report_id}/withdraw"): Rule(
        fill=lambda w: {"report_id": w.report}, allowed={"A_admin": (200,)},
        state=_report_state, throwaway=_throwaway_report,
        after=lambda w, ids, before: _must(
            before == (None, None) and _report_state(w, ids)[1] is not None,
            "the report was not withdrawn")),
    # dsar: the school's admin; the filer may read their own request
    ("dsar", "GET", "/api/v1/offboardings/{school_id}"): Rule(
        fill=_offboarded_school, allowed={"operator": (200,)}),
    ("dsar", "GET", "/api/v1/offboardings/{school_id}/receipt"): Rule(
        fill=_completed_offboarding, allowed={"operator": (200,)}),
    ("dsar", "GET", "/api/v1/subject-requests/{request_id}/receipt"): Rule(
        fill=lambda w: {"request_id": w.access_request}, allowed={"A_admin": (200,)}),
    ("dsar", "GET", "/api/v1/subject-requests/{request_id}"): Rule(
        fill=lambda w: {"request_id": w.main_request},
        allowed={"A_admin": (200,), "A_parent": (200,)}),
    ("dsar", "GET", "/api/v1/subject-requests/{request_id}/audit"): Rule(
        fill=lambda w: {"request_id": w.main_request}, allowed={"A_admin": (200,)}),
    ("dsar", "GET", "/api/v1/subject-requests/{request_id}/export"): Rule(
        fill=lambda w: {"request_id": w.access_request}, allowed={"A_admin": (200,)}),
    # The school filed this one itself: nobody to release it to (409, past the ownership
    # check); a parent's own released export is test_subject_requests_real's.
    ("dsar", "POST", "/api/v1/subject-requests/{request_id}/release"): Rule(
        fill=lambda w: {"request_id": w.access_request}, allowed={"A_admin": (409,)}),
    ("dsar", "POST", "/api/v1/subject-requests/{request_id}/approve"): Rule(
        fill=lambda w: {"request_id": parent_request(w)}, allowed={"A_admin": (200,)},
        state=_dsar_state, after=_expect(status="in_progress")),
    ("dsar", "POST", "/api/v1/subject-requests/{request_id}/refuse"): Rule(
        fill=lambda w: {"request_id": parent_request(w)}, allowed={"A_admin": (200,)},
        body=lambda caller, allowed: {"reason": f"refused by {caller}"},
        state=_dsar_state, after=_expect(status="refused", refusal_reason="refused by A_admin")),
    ("dsar", "POST", "/api/v1/subject-requests/{request_id}/retry"): Rule(
        # Nothing to retry while it awaits the school: 409 (past the ownership check).
        fill=lambda w: {"request_id": parent_request(w)}, allowed={"A_admin": (409,)},
        state=_dsar_state),
    ("dsar", "POST", "/api/v1/subject-requests/{request_id}/extend"): Rule(
        fill=lambda w: {"request_id": parent_request(w)}, allowed={"A_admin": (200,)},
        body=lambda caller, allowed: {"months": 1, "reason": f"extended by {caller}"},
        state=_dsar_state, after=_expect(status="awaiting_school")),
    ("dsar", "POST", "/api/v1/subject-requests/{request_id}/pause"): Rule(
        fill=lambda w: {"request_id": admin_rectification(w)}, allowed={"A_admin": (200,)},
        body=lambda caller, allowed: {"paused": True},
        state=_dsar_state, after=_expect(status="paused")),
    ("dsar", "POST", "/api/v1/subject-requests/{request_id}/complete"): Rule(
        fill=lambda w: {"request_id": admin_rectification(w)}, allowed={"A_admin": (200,)},
        state=_dsar_state, after=_expect(status="completed")),
}


def _id_operations(w) -> dict[tuple[str, str, str], list[str]]:
    """Every operation of every service's OpenAPI document with an id in its path."""
    found = {}
    for service in SERVICES:
        response = w.system.clients[service].get(f"/openapi/{service}/openapi.json")
        assert response.status_code == 200, service
        for path, item in response.json["paths"].items():
            shared_params = item.get("parameters", [])
            for method, op in item.items():
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                names = [p["name"] for p in shared_params + op.get("parameters", [])
                         if p.get("in") == "path"]
                names += [n for n in re.findall(r"{([^}]+)}", path) if n not in names]
                if names:
                    found[(service, method.upper(), path)] = names
    return found


# Public by design, and their path names no school's object: every caller, and nobody
# signed in, reads them alike (tests/unit/test_notifications_unit.py reads a version).
PUBLIC_OPERATIONS = {("notifications", "GET", "/api/v1/privacy-notices/{version}")}


def test_every_id_bearing_operation_in_the_openapi_documents_has_a_rule(world):
    operations = {k: v for k, v in _id_operations(world).items()
                  if k not in PUBLIC_OPERATIONS}
    assert len(operations) >= 20  # the documents were read, not empty
    missing = sorted(set(operations) - set(RULES))
    stale = sorted(set(RULES) - set(operations))
    assert not missing, f"operations with ids but no authorization rule: {missing}"
    assert not stale, f"rules for operations no service documents: {stale}"


def _call(w, caller, key, ids, body):
    service, method, template = key
    path = template.format(**ids)
    return w.system.call(service, method.lower(), path, w.tokens[caller], json=body)


def _random_ids(template: str) -> dict:
    return {name: str(uuid.uuid4()) for name in re.findall(r"{([^}]+)}", template)}


@pytest.mark.parametrize("key", list(RULES), ids=lambda k: f"{k[0]} {k[1]} {k[2]}")
def test_only_the_allowed_callers_reach_school_As_object(world, key):
    w, rule = world, RULES[key]
    assert set(rule.allowed) <= set(CALLERS)
    refused = [c for c in CALLERS if c not in rule.allowed]
    # Every rule refuses the whole of school B (and the operator outside identity).
    assert {"B_admin", "B_system", "B_parent", "B_student"} <= set(refused)
    ids = rule.fill(w)
    path_ids = {k: v for k, v in ids.items() if "{" + k + "}" in key[2]}
    assert set(path_ids) == set(re.findall(r"{([^}]+)}", key[2])), "fill() misses an id"
    body = rule.body or (lambda caller, allowed: None)
    before = rule.state(w, ids) if rule.state else None
    problems = []
    for caller in refused:
        response = _call(w, caller, key, ids, body(caller, False))
        unknown = _call(w, caller, key, _random_ids(key[2]), body(caller, False))
        if unknown.status_code != 404:
            problems.append(f"{caller}: a random id answered {unknown.status_code}")
        if response.status_code != 404 or response.json != unknown.json:
            problems.append(f"{caller}: {response.status_code} {response.json} "
                            f"(a random id: {unknown.status_code} {unknown.json})")
    assert not problems, "refused callers reached (or told of) the object:\n" + "\n".join(
        problems)
    if rule.state:
        assert rule.state(w, ids) == before, "a refused caller changed the object"
    target = rule.throwaway(w) if rule.throwaway else ids
    for caller, statuses in rule.allowed.items():
        unknown = _call(w, caller, key, _random_ids(key[2]), body(caller, True))
        assert unknown.status_code == 404 and unknown.json["error"]["code"] == "not_found", (
            caller, unknown.status_code, unknown.json)
        response = _call(w, caller, key, target, body(caller, True))
        assert response.status_code in statuses, (caller, response.status_code,
                                                  response.get_data(as_text=True)[:300])
    if rule.after:
        rule.after(w, target, before)


def test_the_reads_give_the_allowed_callers_school_As_data(world):
    """What the allowed callers get is the object itself (not an empty answer)."""
    w, call = world, world.system.call
    for caller in S1_READERS:
        listing = _ok(call("reports", "get", f"/api/v1/students/{w.sid['S1']}/reports",
                           w.tokens[caller]), 200)["items"]
        assert [r["id"] for r in listing] == [w.report], caller
        assert _ok(call("reports", "get", f"/api/v1/reports/{w.report}", w.tokens[caller]),
                   200)["id"] == w.report
    view = _ok(call("dsar", "get", f"/api/v1/subject-requests/{w.main_request}",
                    w.tokens["A_parent"]), 200)
    assert view["id"] == w.main_request and view["subject"]["id"] == w.sid["S1"]
    export = call("dsar", "get", f"/api/v1/subject-requests/{w.access_request}/export",
                  w.tokens["A_admin"])
    assert export.status_code == 200 and export.mimetype == "application/zip"
    # B's own parent and student read B's child: their tokens would reach data if allowed.
    for caller in ("B_parent", "B_student"):
        assert call("reports", "get", f"/api/v1/students/{w.sid['SB1']}/reports",
                    w.tokens[caller]).status_code == 200, caller


def test_ids_of_another_school_in_the_query_or_body_are_refused_alike(world):
    """The operations naming their school in the query or the body (an admin of several
    schools says which): B's admin naming school A gets the 404 an unknown school gets."""
    w, call = world, world.system.call
    b_admin, a_admin = w.tokens["B_admin"], w.tokens["A_admin"]
    settings = "/api/v1/school-data/oneroster/settings"
    before = _ok(call("ingest", "get", settings, a_admin, query={"school_id": w.a_school}),
                 200)
    attempts = [
        ("ingest", "get", settings, None, {"school_id": "{}"}),
        ("ingest", "put", settings, {"report_contact_roles": ["guardian", "relative"]},
         {"school_id": "{}"}),
        ("reports", "post", "/api/v1/reports/publish",
         {"period": PERIOD, "title": "Hijack", "school_id": "{}"}, None),
        # the school admin console's lists (issue 15)
        ("ingest", "get", "/api/v1/school-data/batches", None, {"school_id": "{}"}),
        ("reports", "get", "/api/v1/reports", None, {"school_id": "{}"}),
        ("reports", "get", "/api/v1/reports/periods", None, {"school_id": "{}"}),
        ("reports", "get", "/api/v1/reports/draft", None,
         {"school_id": "{}", "period": PERIOD}),
        ("linking", "get", "/api/v1/links/students", None, {"school_id": "{}"}),
        ("dsar", "post", "/api/v1/subject-requests",
         {"kind": "erasure", "school_id": "{}",
          "subject": {"type": "student", "id": w.sid["S1"]}}, None),
    ]

    def fill(value, school):
        if isinstance(value, dict):
            return {k: fill(v, school) for k, v in value.items()}
        return school if value == "{}" else value

    problems = []
    for service, method, path, body, query in attempts:
        real = call(service, method, path, b_admin, fill(body, w.a_school),
                    fill(query, w.a_school))
        unknown = call(service, method, path, b_admin, fill(body, str(uuid.uuid4())),
                       fill(query, str(uuid.uuid4())))
        if real.status_code != 404 or real.json != unknown.json:
            problems.append(f"{method.upper()} {path}: {real.status_code} {real.json}")
    upload = w.system.clients["ingest"].post(
        "/api/v1/school-data/oneroster", query_string={"school_id": w.a_school},
        data=b"PK\x05\x06" + b"\0" * 18, content_type="application/zip",
        headers={"Authorization": f"Bearer {b_admin}"})
    if upload.status_code != 404:
        problems.append(f"POST oneroster: {upload.status_code} {upload.json}")
    assert not problems, "\n".join(problems)
    assert _ok(call("ingest", "get", settings, a_admin, query={"school_id": w.a_school}),
               200) == before
    assert _scalar(w.system, "reports", "SELECT count(*) FROM reports WHERE title='Hijack'"
                   ) == 0
    assert _scalar(w.system, "dsar", "SELECT count(*) FROM requests WHERE kind='erasure'"
                   ) == 0


def test_an_operator_cannot_revoke_school_Bs_client_through_school_As_path(world):
    """The one path with two ids: a client of school B under school A's id is unknown."""
    w = world
    client = _ok(w.system.call("identity", "post", f"/api/v1/schools/{w.b_school}/clients",
                               w.system.operator), 201)
    ids = {"school_id": w.b_school, "client_id": client["client_id"],
           "secret": client["client_secret"]}
    mixed = w.system.call("identity", "delete", f"/api/v1/schools/{w.a_school}/clients/"
                          f"{client['client_id']}", w.system.operator)
    assert mixed.status_code == 404 and mixed.json["error"]["code"] == "not_found"
    assert _client_grant(w, ids) == 200


# The operators' own lists (issue 25): they name no school's object, so no rule above
# covers them. The operator alone reads them; every other caller gets the 404 an unknown
# path gets, with nothing of the list in it.
OPERATOR_ONLY_LISTS = ["/api/v1/accounts/second-factors",
                       "/api/v1/accounts/second-factor-resets"]


@pytest.mark.parametrize("path", OPERATOR_ONLY_LISTS)
def test_the_operators_lists_answer_the_operator_alone(world, path):
    w = world
    listed = _ok(w.system.call("identity", "get", path, w.system.operator), 200)
    assert "items" in listed
    problems = []
    for caller in CALLERS:
        if caller == "operator":
            continue
        response = w.system.call("identity", "get", path, w.tokens[caller])
        if response.status_code != 404 or "items" in (response.json or {}):
            problems.append(f"{caller}: {response.status_code} {response.json}")
    assert not problems, "other callers reached the operators' list:\n" + "\n".join(problems)
