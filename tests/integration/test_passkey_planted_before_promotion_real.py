"""A passkey planted on a parent's login before it was made staff (issue 25), through
identity's API on real PostgreSQL and RabbitMQ. Parents have no second factor, so the
password alone adds a passkey to a parent's login; for staff a passkey is both factors.
A passkey counts for a staff sign-in only if it was added while the login held a staff
role with a fresh second factor: the one planted while the login was only a parent's
never signs in as the admin, nor stands in for the admin's second factor, and the
parent's own passkey sign-in keeps working."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from tests import second_factor
from tests.integration.test_identity_real import OPERATOR, IdentityUnderTest
from tests.integration.test_passkey_only_staff_real import passkey_sign_in
from tests.integration.test_passkeys_real import add_passkey, device_for
from tests.integration.test_second_factor_real import get

pytestmark = pytest.mark.integration


@pytest.fixture
def idp(broker_settings, new_database, tmp_path):
    service = IdentityUnderTest(broker_settings, tmp_path, new_database("identity"))
    yield service
    service.close()


def passkey_answer(idp, device, role=None):
    begun = idp.post("/api/v1/auth/passkey/options").json
    body = {"challenge_id": begun["challenge_id"], "credential": device.get(begun["options"])}
    if role:
        body["role"] = role
    return idp.post("/api/v1/auth/passkey", body)


def test_a_passkey_planted_on_a_parent_never_signs_in_as_the_admin_it_becomes(idp):
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    email = f"planted-{uuid.uuid4().hex[:6]}@example.org"
    _, password = idp.parent_account(school, email)
    planted = device_for(idp)  # the thief, holding only the parent's password
    add_passkey(idp, idp.sign_in(email, password).json["access_token"], planted,
                "Thief", password)
    assert idp.post(f"/api/v1/schools/{school}/staff", {
        "name": "Pat Promoted", "email": email, "role": "school_admin"},
        token=operator).status_code == 201
    idp.accept(email, password)

    # As the admin: refused, whether asked for or the login's default.
    asked = passkey_answer(idp, planted, "school_admin")
    assert asked.status_code == 422, asked.json
    assert asked.json["error"]["code"] == "role_not_held"
    default = passkey_answer(idp, planted)
    assert default.status_code == 200, default.json
    assert default.json["role"] == "parent" and "second_factor" not in default.json
    # Nor by a refresh naming the admin role.
    switched = idp.post("/api/v1/auth/token", {
        "grant_type": "refresh_token", "refresh_token": default.json["refresh_token"],
        "role": "school_admin"})
    assert switched.status_code == 422, switched.json
    assert switched.json["error"]["code"] == "role_not_held"
    # The parent token it gives is no fresh second factor: it adds no passkey that would.
    begun = idp.post("/api/v1/auth/passkeys/registration", {"password": password},
                     token=default.json["access_token"])
    assert begun.status_code == 401 and begun.json["error"]["code"] == "step_up_required"
    # The password sign-in as the admin is as with no passkey: an app is enrolled.
    answer = idp.sign_in(email, password).json
    assert answer["role"] == "school_admin" and answer["second_factor"] == "enrol"


def test_a_passkey_added_by_the_admin_with_a_fresh_code_counts(idp):
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    email = f"owner-{uuid.uuid4().hex[:6]}@example.org"
    _, password = idp.parent_account(school, email)
    own = device_for(idp)
    add_passkey(idp, idp.sign_in(email, password).json["access_token"], own, "Old phone",
                password)
    assert idp.post(f"/api/v1/schools/{school}/staff", {
        "name": "Pat Owner", "email": email, "role": "school_admin"},
        token=operator).status_code == 201
    idp.accept(email, password)
    admin = idp.token(email, password)  # enrols and passes the app: a fresh second factor
    fresh = device_for(idp)
    add_passkey(idp, admin, fresh, "New phone")
    signed_in = passkey_sign_in(idp, fresh)
    assert signed_in["role"] == "school_admin" and signed_in["second_factor"] == "passed"
    assert second_factor.account_of(signed_in["access_token"]) == \
        second_factor.account_of(admin)
    # The old one still signs the parent in; the row says which counts for staff.
    assert passkey_answer(idp, own, "parent").status_code == 200
    with idp.rt.engine.connect() as conn:
        kept = dict(conn.execute(sa.text(
            "SELECT name, staff_grade FROM passkeys WHERE account_id = :a"),
            {"a": second_factor.account_of(admin)}).all())
    assert kept == {"Old phone": False, "New phone": True}
    # The console's "Two-step sign-in" counts what counts for staff: the new one alone,
    # and the planted one never passes for the admin's second factor there either.
    listed = get(idp, f"/api/v1/schools/{school}/second-factors", operator).json
    (row,) = [i for i in listed["items"] if i["email"] == email]
    assert (row["second_factor"], row["passkeys"]) == ("enrolled", 1)


def test_the_console_counts_no_planted_passkey_as_the_admins(idp):
    """A login made admin with only the passkey planted as a parent has no second factor
    for staff: the console says none (its admins would otherwise take it for one)."""
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    email = f"counted-{uuid.uuid4().hex[:6]}@example.org"
    _, password = idp.parent_account(school, email)
    add_passkey(idp, idp.sign_in(email, password).json["access_token"], device_for(idp),
                "Thief", password)
    assert idp.post(f"/api/v1/schools/{school}/staff", {
        "name": "Pat Counted", "email": email, "role": "school_admin"},
        token=operator).status_code == 201
    idp.accept(email, password)
    listed = get(idp, f"/api/v1/schools/{school}/second-factors", operator).json
    (row,) = [i for i in listed["items"] if i["email"] == email]
    assert (row["second_factor"], row["passkeys"]) == ("none", 0)
