"""The operator console's reads on real PostgreSQL and RabbitMQ (issue 15): the schools with
their authorisation and settings, one school with its admins and school-system clients
(never a secret), and each school's offboarding with every service's progress until all
have answered. Operators only: anyone else gets the 404 an unknown id gets.

All six services run in this process (tests/system.py), one world per module."""
from __future__ import annotations

import json
import uuid

import pytest

from shared.config import RIGHTS_PARTICIPANTS, SERVICES
from tests.support import wait_for
from tests.system import RealSystem

pytestmark = pytest.mark.integration

AUTHORISATION = {"reference": "DPIA-2026-014", "authorised_by": "Dana Headteacher",
                 "date": "2026-09-01"}


@pytest.fixture(scope="module")
def system(module_settings, tmp_path_factory, module_database):
    running = RealSystem(module_settings, tmp_path_factory.mktemp("operator"),
                         module_database, list(SERVICES))
    try:
        yield running
    finally:
        running.close()


def _ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.json)
    return response.json


def _new_school(system, name, **extra) -> str:
    return _ok(system.call("identity", "post", "/api/v1/schools", system.operator,
                           {"name": name, **extra}), 201)["id"]


def _all_schools(system, token, limit):
    items, after = [], None
    for _ in range(50):
        page = _ok(system.call("identity", "get", "/api/v1/schools", token,
                               query={"limit": limit, **({"after": after} if after else {})}))
        assert len(page["items"]) <= limit
        items += page["items"]
        after = page["next"]
        if after is None:
            return items
    raise AssertionError("the pages never ended")


def test_the_operator_sees_every_school_with_its_authorisation_and_settings(system):
    signed = _new_school(system, "Signed School", authorisation=AUTHORISATION,
                         student_accounts=True)
    plain = _new_school(system, "Plain School")
    schools = {s["id"]: s for s in _all_schools(system, system.operator, limit=1)}
    assert {signed, plain} <= set(schools)
    assert schools[signed]["name"] == "Signed School"
    assert schools[signed]["status"] == "active"
    assert schools[signed]["student_accounts"] is True
    assert schools[signed]["authorisation"] == AUTHORISATION
    assert schools[signed]["offboarded_at"] is None and schools[signed]["created_at"]
    assert schools[plain]["authorisation"] is None
    assert schools[plain]["student_accounts"] is False
    # The same list in one page, in the same order (pages are by id).
    assert [s["id"] for s in _all_schools(system, system.operator, limit=100)] == list(schools)
    for query in ({"limit": 0}, {"limit": 101}, {"after": "not-a-uuid"}):
        bad = system.call("identity", "get", "/api/v1/schools", system.operator, query=query)
        assert bad.status_code == 422, (query, bad.json)


def test_one_school_shows_its_admins_and_clients_and_never_a_secret(system):
    school = _new_school(system, "Detail School", authorisation=AUTHORISATION)
    admin = system.admin(school, "active.admin@detail.example.org")
    _ok(system.call("identity", "post", f"/api/v1/schools/{school}/staff", system.operator,
                    {"name": "Ivy Invited", "email": "invited.admin@detail.example.org",
                     "role": "school_admin"}), 201)
    kept = _ok(system.call("identity", "post", f"/api/v1/schools/{school}/clients",
                           system.operator), 201)
    revoked = _ok(system.call("identity", "post", f"/api/v1/schools/{school}/clients",
                              system.operator), 201)
    _ok(system.call("identity", "delete",
                    f"/api/v1/schools/{school}/clients/{revoked['client_id']}",
                    system.operator), 204)
    detail = _ok(system.call("identity", "get", f"/api/v1/schools/{school}",
                             system.operator))
    assert detail["id"] == school and detail["name"] == "Detail School"
    assert detail["authorisation"] == AUTHORISATION and detail["status"] == "active"
    admins = {a["email"]: a for a in detail["admins"]}
    assert set(admins) == {"active.admin@detail.example.org",
                           "invited.admin@detail.example.org"}
    assert admins["active.admin@detail.example.org"]["status"] == "active"
    assert admins["active.admin@detail.example.org"]["activated_at"]
    assert admins["invited.admin@detail.example.org"] == {
        **admins["invited.admin@detail.example.org"], "name": "Ivy Invited",
        "status": "invited", "activated_at": None}
    clients = {c["client_id"]: c for c in detail["clients"]}
    assert set(clients) == {kept["client_id"], revoked["client_id"]}
    assert clients[kept["client_id"]]["revoked_at"] is None
    assert clients[revoked["client_id"]]["revoked_at"] is not None
    text = json.dumps(detail)
    assert kept["client_secret"] not in text and revoked["client_secret"] not in text
    assert "secret" not in text
    # The school's own admin and its system are not operators: a 404, as for no school.
    unknown = system.call("identity", "get", f"/api/v1/schools/{uuid.uuid4()}",
                          system.operator)
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "not_found"
    system_token = _ok(system.call("identity", "post", "/api/v1/auth/token", json={
        "grant_type": "client_credentials", **kept}))["access_token"]
    for token in (admin, system_token):
        for path in (f"/api/v1/schools/{school}", "/api/v1/schools"):
            refused = system.call("identity", "get", path, token)
            assert refused.status_code == 404 and refused.json == unknown.json, path
        for path in (f"/api/v1/offboardings/{school}", "/api/v1/offboardings"):
            refused = system.call("dsar", "get", path, token)
            assert refused.status_code == 404, path
    assert system.call("identity", "get", "/api/v1/schools").status_code == 401
    assert system.call("dsar", "get", "/api/v1/offboardings").status_code == 401


def test_offboarding_shows_each_services_progress_until_every_service_has_answered(system):
    school, _ = system.school("Leaving School")
    admin = system.admin(school, "admin@leaving.example.org")
    path = f"/api/v1/offboardings/{school}"
    before = system.call("dsar", "get", path, system.operator)
    assert before.status_code == 404 and before.json["error"]["code"] == "not_found"
    system.stop_service("reports")  # one service is down: its answer waits in its queue
    try:
        _ok(system.call("identity", "delete", f"/api/v1/schools/{school}", system.operator),
            202)

        def all_but_reports():
            answer = system.call("dsar", "get", path, system.operator)
            if answer.status_code != 200:
                return None
            services = answer.json["services"]
            others = {s: v for s, v in services.items() if s != "reports"}
            return answer.json if set(others.values()) == {"done"} else None
        partial = wait_for(all_but_reports, timeout=60, message="the other services' answers")
        assert set(partial["services"]) == set(RIGHTS_PARTICIPANTS)
        assert partial["services"]["reports"] == "pending"
        assert partial["status"] == "in_progress" and partial["completed_at"] is None
        assert partial["school_id"] == school and partial["reasons"] == {}
    finally:
        system.start_service("reports")
    done = wait_for(lambda: (lambda a: a if a["status"] == "completed" else None)(
        _ok(system.call("dsar", "get", path, system.operator))), timeout=60,
        message="offboarding completed")
    assert done["services"] == {s: "done" for s in RIGHTS_PARTICIPANTS}
    assert done["completed_at"]
    listed = []
    after = None
    while True:
        page = _ok(system.call("dsar", "get", "/api/v1/offboardings", system.operator,
                               query={"limit": 1, **({"after": after} if after else {})}))
        listed += page["items"]
        after = page["next"]
        if after is None:
            break
    assert done in listed
    # identity's own part: the school is kept as offboarded, without who authorised it, its
    # admins or its clients.
    detail = _ok(system.call("identity", "get", f"/api/v1/schools/{school}",
                             system.operator))
    assert detail["status"] == "offboarded" and detail["offboarded_at"]
    assert detail["admins"] == [] and detail["clients"] == []
    # The school's admin went with it: their token is refused everywhere (TokensRevoked).
    wait_for(lambda: system.call("dsar", "get", path, admin).status_code == 401,
             timeout=10, message="the offboarded school's admin refused")
    unknown = system.call("dsar", "get", f"/api/v1/offboardings/{uuid.uuid4()}",
                          system.operator)
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "not_found"
