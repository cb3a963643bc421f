"""A school learns nothing about another school's people (issue 21): one login may serve a
person at several schools and in several roles, but it joins a school's records only when
the person accepts that school's invitation. Until then school B's answers, ids, work and
exports for an email used at school A are those of an email nobody uses.

Every service runs in this process on real PostgreSQL and RabbitMQ (tests/system.py), one
world per module: school A with an active parent and active admins, school B with its own
admin. Each test uses emails of its own."""
from __future__ import annotations

import io
import json
import re
import threading
import uuid
import zipfile
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from shared.config import SERVICES
from shared.db import utcnow
from tests import second_factor
from tests.support import publish_events, wait_for
from tests.system import RealSystem, guardian, student

pytestmark = pytest.mark.integration
PERIOD = "2026 Autumn"
ADMIN_PASSWORD = "an-admin-password-1"
PARENT_PASSWORD = "a-parent-password-1"


@pytest.fixture(scope="module")
def world(module_settings, tmp_path_factory, module_database):
    system = RealSystem(module_settings, tmp_path_factory.mktemp("tenancy"), module_database,
                        list(SERVICES))
    try:
        a_school, a_system = system.school("School A")
        b_school, b_system = system.school("School B")
        yield SimpleNamespace(system=system, a_school=a_school, a_system=a_system,
                              b_school=b_school, b_system=b_system,
                              a_admin=system.admin(a_school, "admin@a.example.org"),
                              b_admin=system.admin(b_school, "admin@b.example.org"))
    finally:
        system.close()


# --- helpers --------------------------------------------------------------------------------
def _ok(response, *statuses):
    assert response.status_code in (statuses or (200, 201, 202)), (response.status_code,
                                                                   response.json)
    return response.json


def _scalar(system, service, sql, **params):
    with system.runtimes[service].engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def invite_staff(w, school, token, email, name):
    return w.system.call("identity", "post", f"/api/v1/schools/{school}/staff", token,
                         {"name": name, "email": email, "role": "school_admin"})


def staff_at_a(w, email, name="Tess Teacher-Aname") -> str:
    """An admin of school A who has accepted A's invitation: their password."""
    _ok(invite_staff(w, w.a_school, w.system.operator, email, name), 201)
    w.system.activate(email, ADMIN_PASSWORD)
    return ADMIN_PASSWORD


def sign_in(w, email, password, **extra):
    """The token answer (a staff one past the second factor), or the refusal."""
    response = w.system.call("identity", "post", "/api/v1/auth/token", json={
        "grant_type": "password", "email": email, "password": password, **extra})
    if response.status_code != 200:
        return response
    return SimpleNamespace(status_code=200, json=second_factor.complete(
        second_factor.flask_post(w.system.clients["identity"]), response.json))


def token_claims(w, token):
    return w.system.runtimes["identity"].verifier.verify(token)


def published(w, event_type, school, where=lambda data: True) -> dict:
    """The data of the newest event of this type about `school` matching `where`, once
    one was published."""
    def find():
        w.system.tap.wait(event_type, where)
        found = [e for e in w.system.tap.seen if e["type"] == event_type
                 and e["school_id"] == school and where(e["data"])]
        return found[-1]["data"] if found else None
    return wait_for(find, message=f"{event_type} of the school")


def invitation(w, email, school) -> dict:
    """The newest invitation school `school` sent to this email."""
    return published(w, "InvitationIssued", school, lambda d: d["email"] == email)


def accept(w, email, school, password):
    token = invitation(w, email, school)["token"]
    return w.system.call("identity", "post", "/api/v1/auth/activate",
                         json={"token": token, "password": password})


def statements_of(w, call) -> list[str]:
    """The SQL statements identity runs for `call` in this thread (its workers' own are
    left out, and so are the token check's periodic reads of signing keys and
    revocations, which run for every caller alike), and the call's answer."""
    engine, seen, me = w.system.runtimes["identity"].engine, [], threading.get_ident()

    def record(conn, cursor, statement, parameters, context, executemany):
        if (threading.get_ident() == me and "signing_keys" not in statement
                and "token_revocations" not in statement):
            seen.append(" ".join(statement.split()))
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        answer = call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return seen, answer


def identity_consumed(w, event_type, count) -> bool:
    return _scalar(w.system, "identity", "SELECT count(*) FROM inbox WHERE event_type=:t",
                   t=event_type) >= count


def settled(w, account_ids=()) -> None:
    """Every outbox sent, and linking has consumed each AccountActivated about these
    logins that was ever published (none, when the school's records wait for the person)."""
    wait_for(lambda: all(rt.relay.pending() == 0 for rt in w.system.runtimes.values()),
             message="every outbox sent")
    published = [e["id"] for e in w.system.tap.seen if e["type"] == "AccountActivated"
                 and e["data"]["account_id"] in account_ids]
    wait_for(lambda: all(_scalar(w.system, "linking", "SELECT count(*) FROM inbox WHERE "
                                 "event_id=:e", e=event_id) for event_id in published),
             message="linking consumed every AccountActivated")


def export_of(w, token, subject_type, subject_id) -> dict:
    request = _ok(w.system.call("dsar", "post", "/api/v1/subject-requests", token, {
        "kind": "access", "subject": {"type": subject_type, "id": subject_id}}), 201)
    wait_for(lambda: w.system.call("dsar", "get", f"/api/v1/subject-requests/{request['id']}",
                                   token).json["status"] == "completed", timeout=60,
             message="the access request completed")
    response = w.system.call("dsar", "get",
                             f"/api/v1/subject-requests/{request['id']}/export", token)
    assert response.status_code == 200
    everything = json.loads(zipfile.ZipFile(io.BytesIO(response.data)).read("export.json"))
    return everything


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DIGEST = re.compile(r"\b[0-9a-f]{64}\b")
MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00|Z)?")


def shape(export: dict, email: str) -> str:
    """An export with what differs between two people anyway (ids, moments, digests of
    their records, the email itself) replaced: what is left must not tell an email used
    elsewhere from a fresh one."""
    text = json.dumps(export, sort_keys=True).replace(email, "<email>")
    return MOMENT.sub("<moment>", DIGEST.sub("<digest>", UUID.sub("<id>", text)))


def no_dead_letters(w) -> None:
    dead = {name: _scalar(w.system, name, "SELECT count(*) FROM dead_letters")
            for name in SERVICES}
    assert dead == {name: 0 for name in SERVICES}


# --- (1) a staff invitation answers and works alike -------------------------------------------
def test_a_staff_invitation_answers_alike_whether_or_not_the_email_has_a_login(world):
    w, system = world, world.system
    staff_at_a(w, "known1@example.org")  # an admin at A
    system.push(w.a_system, [student("A1", given_name="Abe"),  # and a parent at A
                             guardian("GA1", "parent1@example.org", {"A1": True})])
    invitation(w, "parent1@example.org", w.a_school)
    system.activate("parent1@example.org", PARENT_PASSWORD)
    answers = {}
    for email in ("known1@example.org", "parent1@example.org", "nobody1@example.org"):
        answers[email] = statements_of(w, lambda e=email: invite_staff(
            w, w.b_school, w.b_admin, e, "Kim Staff"))
    (admin_work, admin), (parent_work, parent), (fresh_work, fresh) = answers.values()
    assert admin.status_code == parent.status_code == fresh.status_code == 201
    assert set(admin.json) == set(parent.json) == set(fresh.json) == {"id"}
    assert {uuid.UUID(a.json["id"]).version for a in (admin, parent, fresh)} == {4}
    assert admin_work == parent_work == fresh_work  # the same work: nothing to time either
    # Each is invited alike, and B can send each invitation again alike.
    for email in answers:
        invitation(w, email, w.b_school)
    again = [system.call("identity", "post", f"/api/v1/accounts/{a.json['id']}/invitation",
                         w.b_admin) for a in (admin, parent, fresh)]
    assert [a.status_code for a in again] == [202, 202, 202]
    no_dead_letters(w)


# --- (2) another school's admin is not made this school's admin ---------------------------------
def test_another_schools_admin_joins_this_school_only_by_accepting_with_their_password(world):
    w = world
    password = staff_at_a(w, "known2@example.org")
    invited = _ok(invite_staff(w, w.b_school, w.b_admin, "known2@example.org",
                               "Kit Known-B"), 201)
    fresh = _ok(invite_staff(w, w.b_school, w.b_admin, "nobody2@example.org",
                             "Nat Nobody-B"), 201)
    # Not B's admin yet: their tokens and /me name school A only.
    signed_in = _ok(sign_in(w, "known2@example.org", password), 200)
    assert token_claims(w, signed_in["access_token"]).school_ids == (w.a_school,)
    me = _ok(w.system.call("identity", "get", "/api/v1/me", signed_in["access_token"]), 200)
    assert (me["role"], me["school_ids"]) == ("school_admin", [w.a_school])
    # The person is asked, in B's words, to accept with the password they have.
    mail = invitation(w, "known2@example.org", w.b_school)
    assert mail["existing_login"] is True and mail["name"] == "Kit Known-B"
    # B's access request about them exports what B recorded only, shaped as a fresh one's.
    used_export = export_of(w, w.b_admin, "staff", invited["id"])
    fresh_export = export_of(w, w.b_admin, "staff", fresh["id"])
    assert "Aname" not in json.dumps(used_export)  # the name school A recorded
    assert (shape(used_export, "known2@example.org").replace("Kit Known-B", "<name>")
            == shape(fresh_export, "nobody2@example.org").replace("Nat Nobody-B", "<name>"))

    # Accepting asks for the login's own password; an invitation never sets a new one.
    assert accept(w, "known2@example.org", w.b_school, "a-brand-new-password-9"
                  ).status_code == 401
    assert sign_in(w, "known2@example.org", "a-brand-new-password-9").status_code == 401
    assert accept(w, "known2@example.org", w.b_school, password).status_code == 200
    signed_in = _ok(sign_in(w, "known2@example.org", password), 200)
    assert token_claims(w, signed_in["access_token"]).school_ids == tuple(
        sorted((w.a_school, w.b_school)))
    no_dead_letters(w)


# --- (3) a guardian with another school's parent's email --------------------------------------
def test_a_guardian_with_another_schools_parents_email_has_no_account_until_accepted(world):
    w, system = world, world.system
    system.push(w.a_system, [student("A3", "2014-02-03", given_name="Ari", family_name="Ay"),
                             guardian("GA3", "known3@example.org", {"A3": True})])
    # School A records the parent as "Pat Aname"; they accept A's invitation.
    invitation(w, "known3@example.org", w.a_school)
    parent_a = system.activate("known3@example.org", PARENT_PASSWORD)
    account_id = token_claims(w, parent_a).account_id

    pushed = [student("B3", "2015-04-05", given_name="Bex", family_name="Bee"),
              {**guardian("GB3", "known3@example.org", {"B3": True})},
              {**guardian("GB3F", "nobody3@example.org", {"B3": True})}]
    for event in pushed[1:]:
        event["data"].update(given_name="Bea", family_name="Bee")
    system.push(w.b_system, pushed)
    sid = system.tap.wait("StudentRecorded", lambda d: d["given_name"] == "Bex")["data"][
        "student_id"]
    gids = {email: published(w, "GuardianRecorded", w.b_school,
                             lambda d, e=email: d["email"] == e)["guardian_id"]
            for email in ("known3@example.org", "nobody3@example.org")}
    wait_for(lambda: identity_consumed(w, "GuardianRecorded", 3), message="identity applied")
    settled(w, [account_id])

    def links():
        return {i["guardian_id"]: i for i in _ok(system.call(
            "linking", "get", "/api/v1/links", w.b_admin, query={"student_id": sid}),
            200)["items"]}
    wait_for(lambda: len(links()) == 2, message="B's two links")
    view = links()
    assert view[gids["known3@example.org"]]["has_account"] is False
    assert view[gids["nobody3@example.org"]]["has_account"] is False
    used_export = export_of(w, w.b_admin, "guardian", gids["known3@example.org"])
    fresh_export = export_of(w, w.b_admin, "guardian", gids["nobody3@example.org"])
    assert "Aname" not in json.dumps(used_export) and "School A" not in json.dumps(used_export)
    assert (shape(used_export, "known3@example.org")
            == shape(fresh_export, "nobody3@example.org"))

    # The person accepts B's invitation with the password they have: B's link attaches.
    assert accept(w, "known3@example.org", w.b_school, PARENT_PASSWORD).status_code == 200
    wait_for(lambda: links()[gids["known3@example.org"]]["has_account"],
             message="the link attached")
    parent = system.token("known3@example.org", PARENT_PASSWORD)
    own = wait_for(lambda: {i["student"]["id"]: i for i in system.call(
        "linking", "get", "/api/v1/links", parent).json["items"]} if len(system.call(
            "linking", "get", "/api/v1/links", parent).json["items"]) == 2 else None,
        message="both schools' links")
    assert own[sid]["status"] == "pending"
    no_dead_letters(w)


# --- (4) a teacher at A is a parent at B --------------------------------------------------------
def test_a_teacher_admin_at_one_school_is_a_parent_at_another_after_accepting(world):
    w, system = world, world.system
    password = staff_at_a(w, "known4@example.org")
    system.push(w.b_system, [
        student("B4", "2013-06-07", given_name="Cai", family_name="Cee"),
        {"type": "class.upserted", "source_id": "BC4", "data": {
            "name": "8 Art", "subject": "Art", "teacher_ids": [], "student_ids": ["B4"]}},
        {"type": "attainment.recorded", "source_id": "BA4", "data": {
            "student_id": "B4", "class_id": "BC4", "period": PERIOD, "kind": "grade",
            "value": "A"}},
        guardian("GB4", "known4@example.org", {"B4": True})])
    sid = system.tap.wait("StudentRecorded", lambda d: d["given_name"] == "Cai")["data"][
        "student_id"]
    mail = invitation(w, "known4@example.org", w.b_school)
    assert mail["role"] == "parent" and mail["existing_login"] is True
    assert accept(w, "known4@example.org", w.b_school, password).status_code == 200

    # One login, two roles, a token for each.
    as_admin = _ok(sign_in(w, "known4@example.org", password), 200)
    assert (as_admin["role"], as_admin["roles"]) == ("school_admin", ["school_admin", "parent"])
    assert token_claims(w, as_admin["access_token"]).school_ids == (w.a_school,)
    as_parent = _ok(sign_in(w, "known4@example.org", password, role="parent"), 200)
    claims = token_claims(w, as_parent["access_token"])
    assert (claims.role, claims.school_ids) == ("parent", (w.b_school,))
    me = _ok(system.call("identity", "get", "/api/v1/me", as_parent["access_token"]), 200)
    assert (me["role"], me["roles"], me["school_ids"]) == (
        "parent", ["school_admin", "parent"], [w.b_school])
    parent = as_parent["access_token"]
    link = wait_for(lambda: system.call("linking", "get", "/api/v1/links", parent
                                        ).json["items"], message="the parent's link")[0]
    assert link["student"]["id"] == sid
    wait_for(lambda: system.call("linking", "post", f"/api/v1/links/{link['id']}/verify",
                                 parent, {"date_of_birth": "2013-06-07"}).status_code == 200,
             message="the link verified")
    wait_for(lambda: _scalar(system, "reports", "SELECT count(*) FROM parent_access WHERE "
                                                "student_id=:s AND verified", s=sid) == 1
             and _scalar(system, "reports", "SELECT count(*) FROM attainment WHERE "
                                            "student_id=:s", s=sid) == 1,
             message="reports knows the reader and the data")
    assert _ok(system.call("reports", "post", "/api/v1/reports/publish", w.b_admin,
                           {"period": PERIOD, "title": "Autumn"}), 202)["published"] >= 1
    reports = _ok(system.call("reports", "get", f"/api/v1/students/{sid}/reports", parent),
                  200)["items"]
    assert reports and _ok(system.call("reports", "get", f"/api/v1/reports/{reports[0]['id']}",
                                       parent), 200)["student"]["id"] == sid
    # The admin-role token stays A's staff: it reads nothing of B's.
    assert system.call("reports", "get", f"/api/v1/students/{sid}/reports",
                       as_admin["access_token"]).status_code == 404
    no_dead_letters(w)


# --- (5) an erasure of a staff subject reaches only the filing school's stored events -------
def test_an_erasure_of_a_staff_login_reaches_only_the_filing_schools_stored_events(world):
    """Red team: a staff subject is addressed by the login's id, the same at every school.
    School B's erasure of the member of staff it invited (who is school A's admin) must
    reach B's stored events about that login only: an event of school A naming them that a
    service could not apply (a dead letter, kept to be replayed) stays in every service,
    dsar included, and so do A's sent events about its admin; B's own dead letter goes."""
    w, system = world, world.system
    staff_at_a(w, "shared5@example.org")
    account = _ok(invite_staff(w, w.b_school, w.b_admin, "shared5@example.org",
                               "Sam Shared-B"), 201)["id"]
    # One poison event per school naming the login (`role` is not a role): linking and
    # dsar, among others, dead-letter it at once.
    poison = {school: {"id": str(uuid.uuid4()), "type": "AccountActivated", "version": 1,
                       "occurred_at": utcnow().isoformat(), "producer": "identity",
                       "school_id": school, "correlation_id": str(uuid.uuid4()),
                       "data": {"account_id": account, "role": 7, "guardian_ids": []}}
              for school in (w.a_school, w.b_school)}
    publish_events(system.settings, *poison.values())

    def dead_letters(service) -> set[str]:
        with system.runtimes[service].engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT event_id FROM dead_letters WHERE "
                                            "event_id IN (:a, :b)"),
                                    {"a": poison[w.a_school]["id"],
                                     "b": poison[w.b_school]["id"]}).scalars())
    wait_for(lambda: all(len(dead_letters(s)) == 2 for s in ("linking", "dsar")),
             message="both poison events dead-lettered")

    def a_events_about_the_admin() -> int:  # sent, within the retention
        return _scalar(system, "identity", "SELECT count(*) FROM outbox WHERE school_id=:s "
                       "AND payload LIKE :a", s=w.a_school, a=f"%{account}%")
    before = a_events_about_the_admin()
    assert before >= 1  # A's invitation and its acceptance
    request = _ok(system.call("dsar", "post", "/api/v1/subject-requests", w.b_admin, {
        "kind": "erasure", "subject": {"type": "staff", "id": account}}), 201)
    wait_for(lambda: system.call("dsar", "get", f"/api/v1/subject-requests/{request['id']}",
                                 w.b_admin).json["status"] == "completed", timeout=60,
             message="B's erasure completed")
    for service in ("linking", "dsar"):
        assert dead_letters(service) == {poison[w.a_school]["id"]}, service
    assert a_events_about_the_admin() == before
    # A's admin is still A's admin: B's erasure signed nothing out (never accepted at B).
    assert sign_in(w, "shared5@example.org", ADMIN_PASSWORD).status_code == 200
