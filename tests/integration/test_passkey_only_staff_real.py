"""Staff whose only second factor is a passkey (issue 25), through identity's API on real
PostgreSQL and RabbitMQ. For staff a passkey is both factors, so: the consoles' lists say
such a login has a second factor (the passkeys counted), a reset removes the passkeys
(and is mailed as such), and the password alone never enrols an authenticator app beside
the passkey (an attacker with the password only would otherwise bypass it). Also the
operators' own list, for the operator console's reset of another operator's factor."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.identity.models import passkeys
from tests import second_factor
from tests.integration.test_identity_real import OPERATOR, IdentityUnderTest
from tests.integration.test_passkeys_real import add_passkey, device_for
from tests.integration.test_second_factor_recovery_real import (RESET, admin, changed,
                                                                delete, get, sub)

pytestmark = pytest.mark.integration


@pytest.fixture
def idp(broker_settings, new_database, tmp_path):
    service = IdentityUnderTest(broker_settings, tmp_path, new_database("identity"))
    yield service
    service.close()


def passkey_only_admin(idp, operator, school) -> tuple[str, str, object]:
    """A parent made an admin of the school who, as the admin with a fresh second factor
    (the app), added a passkey (one added while a parent would not count for staff), and
    whose app is then gone (deleted here: no endpoint removes one's own app): a staff
    login with a passkey and no authenticator app. (email, password, their device)."""
    email = f"pk-{uuid.uuid4().hex[:6]}@example.org"
    _, password = idp.parent_account(school, email)
    assert idp.post(f"/api/v1/schools/{school}/staff", {
        "name": "Pat Passkey", "email": email, "role": "school_admin"},
        token=operator).status_code == 201
    idp.accept(email, password)
    admin = idp.token(email, password)
    device = device_for(idp)
    add_passkey(idp, admin, device, "Phone")
    with idp.rt.engine.begin() as conn:
        for table in ("recovery_codes", "second_factors"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE account_id = :a"),
                         {"a": second_factor.account_of(admin)})
    return email, password, device


def passkey_sign_in(idp, device) -> dict:
    begun = idp.post("/api/v1/auth/passkey/options").json
    answer = idp.post("/api/v1/auth/passkey", {"challenge_id": begun["challenge_id"],
                                               "credential": device.get(begun["options"])})
    assert answer.status_code == 200, answer.json
    return answer.json


def passkeys_of(idp, account_id) -> int:
    with idp.rt.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(passkeys).where(
            passkeys.c.account_id == account_id)).scalar_one()


def test_a_passkey_only_admin_is_listed_with_it_and_a_reset_removes_it(idp):
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    di, _ = admin(idp, operator, school, "di@example.org")
    email, password, device = passkey_only_admin(idp, operator, school)
    signed_in = passkey_sign_in(idp, device)
    assert signed_in["role"] == "school_admin" and signed_in["second_factor"] == "passed"
    pat = second_factor.account_of(signed_in["access_token"])

    staff = {i["account_id"]: i for i in get(
        idp, f"/api/v1/schools/{school}/second-factors", di).json["items"]}
    assert (staff[pat]["second_factor"], staff[pat]["passkeys"]) == ("none", 1)
    assert (staff[sub(di)]["second_factor"], staff[sub(di)]["passkeys"]) == ("enrolled", 0)

    done = delete(idp, RESET.format(pat), di)
    assert done.status_code == 200, done.json
    assert passkeys_of(idp, pat) == 0
    assert changed(idp, pat, "reset", "passkey")["by_role"] == "school_admin"
    staff = {i["account_id"]: i for i in get(
        idp, f"/api/v1/schools/{school}/second-factors", di).json["items"]}
    assert (staff[pat]["second_factor"], staff[pat]["passkeys"]) == ("none", 0)
    # Nothing left: their next sign-in (the password) sets up an app, as after any reset.
    assert idp.sign_in(email, password).json["second_factor"] == "enrol"
    again = delete(idp, RESET.format(pat), di)
    assert again.status_code == 409
    assert again.json["error"]["code"] == "second_factor_not_enrolled"


def test_the_password_of_a_passkey_only_admin_cannot_enrol_an_app(idp):
    """The attacker knows the password, not the passkey: the sign-in says `passkey`, and
    enrolling an authenticator app is refused (in Welsh too); nothing is stored. The owner,
    signed in with the passkey, may add an app."""
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    email, password, device = passkey_only_admin(idp, operator, school)
    answer = idp.sign_in(email, password).json
    assert answer["role"] == "school_admin" and answer["second_factor"] == "passkey"
    token = answer["access_token"]
    pat = second_factor.account_of(token)

    enrol = idp.post("/api/v1/auth/second-factor/totp", token=token)
    assert enrol.status_code == 409, enrol.json
    assert enrol.json["error"]["code"] == "passkey_required"
    welsh = idp.client.post("/api/v1/auth/second-factor/totp", headers={
        "Authorization": f"Bearer {token}", "Accept-Language": "cy"})
    assert welsh.status_code == 409
    assert "allwedd mynediad" in welsh.json["error"]["message"]
    confirm = idp.post("/api/v1/auth/second-factor/totp/confirm", {"code": "123456"},
                       token=token)
    assert confirm.status_code == 409
    assert get(idp, "/api/v1/me", token).status_code == 401  # still nothing reachable
    with idp.rt.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM second_factors WHERE "
                                    "account_id = :a"), {"a": pat}).scalar_one() == 0
    # A key enrolled before the passkey came, never confirmed, is no way round either.
    owner = passkey_sign_in(idp, device)["access_token"]
    assert idp.post("/api/v1/auth/second-factor/totp", token=owner).status_code == 201
    again = idp.sign_in(email, password).json
    assert again["second_factor"] == "passkey"
    refused = idp.post("/api/v1/auth/second-factor/totp/confirm", {"code": "123456"},
                       token=again["access_token"])
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "passkey_required"


def test_operators_are_listed_with_their_factors_for_the_operator_alone(idp):
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    di, _ = admin(idp, operator, school, "di@example.org")
    with Session(idp.rt.engine) as session, session.begin():
        idp.identity.ensure_operator(session, "ops2@example.org", "operator-secret-2")
        idp.identity.ensure_operator(session, "ops3@example.org", "operator-secret-3")
    ops2 = idp.token("ops2@example.org", "operator-secret-2")
    add_passkey(idp, ops2, device_for(idp), "Laptop")
    listed = get(idp, "/api/v1/accounts/second-factors", operator)
    assert listed.status_code == 200, listed.json
    states = {i["email"]: (i["second_factor"], i["passkeys"]) for i in listed.json["items"]}
    assert states == {OPERATOR[0]: ("enrolled", 0), "ops2@example.org": ("enrolled", 1),
                      "ops3@example.org": ("none", 0)}
    assert {frozenset(i) for i in listed.json["items"]} == {frozenset({  # never a secret
        "account_id", "name", "email", "second_factor", "enrolled_at", "passkeys"})}
    # Operators only: a school admin is refused, and sees nobody.
    refused = get(idp, "/api/v1/accounts/second-factors", di)
    assert refused.status_code == 404 and "items" not in refused.json
    # The operator resets another operator's (passkeys too); the list shows it.
    assert delete(idp, RESET.format(sub(ops2)), operator).status_code == 200
    states = {i["email"]: (i["second_factor"], i["passkeys"]) for i in get(
        idp, "/api/v1/accounts/second-factors", operator).json["items"]}
    assert states["ops2@example.org"] == ("none", 0)
