"""A staff login that is also a parent (issue 25), attacked by someone who holds only its
password, through identity's API on real PostgreSQL and RabbitMQ. For staff a passkey is
both factors, and passkeys belong to the login, not to the role a token acts in: so a
token acting as the parent (which needs no second factor) must neither add a passkey
(it would then sign in as the school admin with no code) nor remove one (a passkey-only
admin would fall back to enrolling an authenticator app from the password alone). And an
old passkey sign-in (a stolen refresh token) sets up no authenticator app beside it."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from tests import second_factor
from tests.integration.test_identity_real import OPERATOR, IdentityUnderTest
from tests.integration.test_passkey_only_staff_real import (passkey_only_admin,
                                                            passkey_sign_in, passkeys_of)
from tests.integration.test_passkeys_real import device_for
from tests.integration.test_second_factor_recovery_real import get, stale

pytestmark = pytest.mark.integration


@pytest.fixture
def idp(broker_settings, new_database, tmp_path):
    service = IdentityUnderTest(broker_settings, tmp_path, new_database("identity"))
    yield service
    service.close()


def as_parent(idp, email, password) -> str:
    """The password alone, acting as the parent: no second factor is asked."""
    answer = idp.post("/api/v1/auth/token", {"grant_type": "password", "email": email,
                                             "password": password, "role": "parent"})
    assert answer.status_code == 200, answer.json
    assert answer.json["role"] == "parent" and "school_admin" in answer.json["roles"]
    return answer.json["access_token"]


def test_the_password_acting_as_parent_plants_no_passkey_on_an_admin(idp):
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    email = f"both-{uuid.uuid4().hex[:6]}@example.org"
    _, password = idp.parent_account(school, email)
    assert idp.post(f"/api/v1/schools/{school}/staff", {
        "name": "Bo Both", "email": email, "role": "school_admin"},
        token=operator).status_code == 201
    idp.accept(email, password)
    owner = idp.token(email, password)  # the admin enrols an authenticator app
    admin_id = second_factor.account_of(owner)

    thief = as_parent(idp, email, password)
    begun = idp.post("/api/v1/auth/passkeys/registration", {"password": password},
                     token=thief)
    assert begun.status_code == 401, begun.json
    assert begun.json["error"]["code"] == "step_up_required"
    assert passkeys_of(idp, admin_id) == 0
    # Had the thief a challenge from before (or any other way in), registering is refused
    # too: the owner's fresh staff token begins, the parent's token cannot finish.
    device = device_for(idp)
    started = idp.post("/api/v1/auth/passkeys/registration", {}, token=owner)
    assert started.status_code == 201, started.json
    added = idp.post("/api/v1/auth/passkeys", {
        "challenge_id": started.json["challenge_id"], "name": "Thief",
        "credential": device.create(started.json["options"])}, token=thief)
    assert added.status_code == 401 and passkeys_of(idp, admin_id) == 0


def test_the_password_acting_as_parent_removes_no_passkey_of_a_passkey_only_admin(idp):
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    email, password, device = passkey_only_admin(idp, operator, school)
    admin_id = second_factor.account_of(passkey_sign_in(idp, device)["access_token"])

    thief = as_parent(idp, email, password)
    listed = get(idp, "/api/v1/auth/passkeys", thief).json["items"]
    removed = idp.client.delete(f"/api/v1/auth/passkeys/{listed[0]['id']}",
                                headers={"Authorization": f"Bearer {thief}"})
    assert removed.status_code == 401, removed.json
    assert removed.json["error"]["code"] == "step_up_required"
    assert passkeys_of(idp, admin_id) == 1
    # So the password still cannot set up an app beside the passkey.
    assert idp.sign_in(email, password).json["second_factor"] == "passkey"
    # The owner, signed in with the passkey just now, still removes it.
    owner = passkey_sign_in(idp, device)["access_token"]
    assert idp.client.delete(f"/api/v1/auth/passkeys/{listed[0]['id']}", headers={
        "Authorization": f"Bearer {owner}"}).status_code == 204


def test_an_old_passkey_sign_in_enrols_no_app_beside_the_passkey(idp):
    """A sign-in that passed the passkey long ago (a stolen refresh token keeps giving its
    tokens) sets up no authenticator app beside it: as adding a passkey, that wants the
    passkey passed within 15 minutes; a fresh passkey sign-in may."""
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    _, _, device = passkey_only_admin(idp, operator, school)
    token = passkey_sign_in(idp, device)["access_token"]
    admin_id = second_factor.account_of(token)

    old = stale(idp, token)
    assert get(idp, "/api/v1/me", old).status_code == 200  # it still reaches the console
    enrol = idp.post("/api/v1/auth/second-factor/totp", token=old)
    assert enrol.status_code == 409, enrol.json
    assert enrol.json["error"]["code"] == "passkey_required"
    with idp.rt.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM second_factors WHERE "
                                    "account_id = :a"), {"a": admin_id}).scalar_one() == 0
    # Begun by the fresh sign-in, it is not confirmed by the old one either.
    assert idp.post("/api/v1/auth/second-factor/totp", token=token).status_code == 201
    confirm = idp.post("/api/v1/auth/second-factor/totp/confirm", {"code": "123456"},
                       token=old)
    assert confirm.status_code == 409
    assert confirm.json["error"]["code"] == "passkey_required"
