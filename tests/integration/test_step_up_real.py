"""Step-up for the gravest actions (issue 25): approving an erasure (dsar), issuing or
revoking client credentials and offboarding a school (identity), unlocking a link
(linking) want the second factor passed within 15 minutes. A token of a sign-in that
passed it longer ago is refused with 401 step_up_required and nothing changes; the same
sign-in passes the factor again and the action goes through. Lesser actions (approving an
access request) take the older token. All six services on real PostgreSQL and RabbitMQ
(tests/system.py)."""
from __future__ import annotations

import time
import uuid

import jwt
import pytest
import sqlalchemy as sa

from shared.auth import STEP_UP_SECONDS
from shared.config import SERVICES
from tests import second_factor
from tests.support import wait_for
from tests.system import RealSystem, guardian, student

pytestmark = pytest.mark.integration
DOB = "2013-11-07"


@pytest.fixture(scope="module")
def world(module_settings, tmp_path_factory, module_database):
    system = RealSystem(module_settings, tmp_path_factory.mktemp("step-up"), module_database,
                        list(SERVICES))
    try:
        school, system_token = system.school("Step School")
        system.push(system_token, [
            student("S1", DOB, given_name="Sol"), student("S2", DOB, given_name="Lux"),
            guardian("G1", "sol.parent@example.org", {"S1": True, "S2": True})])
        s1 = system.tap.wait("StudentRecorded", lambda d: d["given_name"] == "Sol"
                             )["data"]["student_id"]
        parent = system.activate("sol.parent@example.org")
        links = wait_for(lambda: (lambda items: items if len(items) == 2 else None)(
            system.call("linking", "get", "/api/v1/links", parent).json["items"]),
            message="two links")
        by_child = {link["student"]["id"]: link for link in links}
        assert system.call("linking", "post", f"/api/v1/links/{by_child[s1]['id']}/verify",
                           parent, {"date_of_birth": DOB}).status_code == 200
        locked = next(link["id"] for child, link in by_child.items() if child != s1)
        for _ in range(3):
            system.call("linking", "post", f"/api/v1/links/{locked}/verify", parent,
                        {"date_of_birth": "2000-01-01"})
        admin = system.admin(school, "admin@step.example.org")
        yield system, school, s1, parent, admin, locked
    finally:
        system.close()


def stale(system, token) -> str:
    """The same claims, signed by identity, as if the second factor were passed 16
    minutes ago."""
    claims = jwt.decode(token, options={"verify_signature": False})
    signer = system.runtimes["identity"].context.use_cases.identity.keys.signer()
    extra = {k: v for k, v in claims.items() if k not in (
        "sub", "role", "school_ids", "iss", "aud", "iat", "nbf", "exp", "jti")}
    extra["otp_at"] = int(time.time()) - STEP_UP_SECONDS - 60
    return signer.issue(claims["sub"], claims["role"], claims["school_ids"], **extra)


def refused(response) -> bool:
    return (response.status_code == 401
            and response.json["error"]["code"] == "step_up_required")


def again(system, token) -> str:
    """The sign-in of this token passes the second factor again: a fresh token."""
    return second_factor.complete(second_factor.flask_post(system.clients["identity"]), {
        "access_token": token, "second_factor": "required"})["access_token"]


def _count(system, service, sql, **params):
    with system.runtimes[service].engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def test_an_erasure_approval_wants_a_recent_second_factor(world):
    system, school, s1, parent, admin, _ = world
    old = stale(system, admin)

    def filed(kind):
        def attempt():
            response = system.call("dsar", "post", "/api/v1/subject-requests", parent, {
                "kind": kind, "subject": {"type": "student", "id": s1}})
            return response.json if response.status_code == 201 else None
        return wait_for(attempt, message="dsar knows the parent's child")["id"]
    access, erasure = filed("access"), filed("erasure")
    # A lesser action takes the older second factor.
    assert system.call("dsar", "post", f"/api/v1/subject-requests/{access}/approve",
                       old).status_code == 200
    assert refused(system.call("dsar", "post", f"/api/v1/subject-requests/{erasure}/approve",
                               old))
    assert system.call("dsar", "get", f"/api/v1/subject-requests/{erasure}", admin
                       ).json["status"] == "awaiting_school"
    fresh = again(system, old)
    approved = system.call("dsar", "post", f"/api/v1/subject-requests/{erasure}/approve",
                           fresh)
    assert approved.status_code == 200, approved.json


def test_client_credentials_and_offboarding_want_a_recent_second_factor(world):
    system = world[0]
    old = stale(system, system.operator)
    school = system.call("identity", "post", "/api/v1/schools", old,
                         {"name": "Leaving School"}).json["id"]  # not grave: created
    clients = "SELECT count(*) FROM clients WHERE school_id=:s"
    assert refused(system.call("identity", "post", f"/api/v1/schools/{school}/clients", old))
    assert _count(system, "identity", clients, s=school) == 0
    fresh = again(system, old)
    client = system.call("identity", "post", f"/api/v1/schools/{school}/clients", fresh)
    assert client.status_code == 201, client.json
    revoke = f"/api/v1/schools/{school}/clients/{client.json['client_id']}"
    assert refused(system.call("identity", "delete", revoke, old))
    assert system.call("identity", "delete", revoke, fresh).status_code == 204
    assert refused(system.call("identity", "delete", f"/api/v1/schools/{school}", old))
    assert _count(system, "identity", "SELECT status FROM schools WHERE id=:s",
                  s=school) == "active"
    assert system.call("identity", "delete", f"/api/v1/schools/{school}", fresh
                       ).status_code == 202


def test_unlocking_a_link_wants_a_recent_second_factor(world):
    system, _, _, _, admin, locked = world
    old = stale(system, admin)
    status = "SELECT status FROM links WHERE id=:l"
    assert _count(system, "linking", status, l=locked) == "locked"
    assert refused(system.call("linking", "post", f"/api/v1/links/{locked}/unlock", old))
    # Refused before the link is looked at: the same answer for any id.
    assert refused(system.call("linking", "post", f"/api/v1/links/{uuid.uuid4()}/unlock",
                               old))
    assert _count(system, "linking", status, l=locked) == "locked"
    fresh = again(system, old)
    unlocked = system.call("linking", "post", f"/api/v1/links/{locked}/unlock", fresh)
    assert unlocked.status_code == 200, unlocked.json
    assert _count(system, "linking", status, l=locked) != "locked"


def test_a_school_admin_filing_an_erasure_wants_a_recent_second_factor(world):
    """A school admin's own request starts at once, with no approval: filing an erasure
    is itself the grave act, so it wants the step-up an approval of one does."""
    system, school, s1, _, admin, _ = world
    old = stale(system, admin)
    erasures = "SELECT count(*) FROM requests WHERE kind='erasure' AND filed_by=:a"
    account = jwt.decode(admin, options={"verify_signature": False})["sub"]
    body = {"kind": "erasure", "subject": {"type": "student", "id": s1}}
    assert refused(system.call("dsar", "post", "/api/v1/subject-requests", old, body))
    assert _count(system, "dsar", erasures, a=account) == 0
    # A lesser request takes the older second factor.
    access = system.call("dsar", "post", "/api/v1/subject-requests", old,
                         {**body, "kind": "access"})
    assert access.status_code == 201, access.json
    filed = system.call("dsar", "post", "/api/v1/subject-requests", again(system, old), body)
    assert filed.status_code == 201, filed.json
    assert _count(system, "dsar", erasures, a=account) == 1
