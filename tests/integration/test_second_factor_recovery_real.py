"""Recovering and changing a second factor without weakening it (issue 25), through
identity's API on real PostgreSQL and RabbitMQ: another admin of the same school (or an
operator) resets a school admin's factor, never their own nor across schools, with a fresh
second factor of their own; the reset is in the school's audit trail, ends the person's
sign-ins and makes them enrol again; the owner replaces their authenticator app and
regenerates recovery codes; every change publishes SecondFactorChanged (no secret in it);
the access export shows the factor (never its key or codes) and erasure removes it."""
from __future__ import annotations

import time
import uuid

import jwt
import pyotp
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.identity.models import recovery_codes, second_factor_resets, second_factors
from shared.auth import STEP_UP_SECONDS
from tests import second_factor
from tests.integration.test_identity_real import OPERATOR, IdentityUnderTest
from tests.support import wait_for

pytestmark = pytest.mark.integration
PASSWORD = "admin-password-1"
RESET = "/api/v1/accounts/{}/second-factor"


@pytest.fixture
def idp(broker_settings, new_database, tmp_path):
    service = IdentityUnderTest(broker_settings, tmp_path, new_database("identity"))
    yield service
    service.close()


def sub(token: str) -> str:
    return second_factor.account_of(token)


def delete(idp, path, token, **query):
    return idp.client.delete(path, query_string=query,
                             headers={"Authorization": f"Bearer {token}"})


def get(idp, path, token):
    return idp.client.get(path, headers={"Authorization": f"Bearer {token}"})


def stale(idp, token) -> str:
    """The same claims, signed by identity, as if the second factor were passed 16 minutes
    ago."""
    claims = jwt.decode(token, options={"verify_signature": False})
    extra = {k: v for k, v in claims.items() if k not in (
        "sub", "role", "school_ids", "iss", "aud", "iat", "nbf", "exp", "jti")}
    extra["otp_at"] = int(time.time()) - STEP_UP_SECONDS - 60
    return idp.identity.keys.signer().issue(claims["sub"], claims["role"],
                                            claims["school_ids"], **extra)


def admin(idp, operator, school, email) -> tuple[str, dict]:
    """A school admin invited, activated and signed in with the second factor: (access
    token, the whole token answer with its refresh token)."""
    idp.post(f"/api/v1/schools/{school}/staff", {"name": f"Admin {email[:3]}",
                                                 "email": email, "role": "school_admin"},
             token=operator)
    invitation = idp.invitation_for(email)
    assert idp.post("/api/v1/auth/activate", {"token": invitation["token"],
                                              "password": PASSWORD}).status_code == 200
    answer = idp.sign_in(email, PASSWORD).json
    done = second_factor.complete(second_factor.flask_post(idp.client), answer)
    return done["access_token"], done


def factor_rows(idp, account_id) -> tuple[int, int]:
    with idp.rt.engine.connect() as conn:
        return tuple(conn.execute(sa.select(sa.func.count()).select_from(t).where(
            t.c.account_id == account_id)).scalar_one()
            for t in (second_factors, recovery_codes))


def changes(idp, account_id) -> list[dict]:
    return [e["data"] for e in idp.tap.seen if e["type"] == "SecondFactorChanged"
            and e["data"]["account_id"] == account_id]


def changed(idp, account_id, kind, factor) -> dict:
    return idp.tap.wait("SecondFactorChanged", lambda d: d["account_id"] == account_id
                        and d["kind"] == kind and d["factor"] == factor)["data"]


def test_another_admin_of_the_school_resets_a_lost_factor_and_it_is_audited(idp):
    operator = idp.token(*OPERATOR)
    mine, other = idp.new_school(operator, "Mine"), idp.new_school(operator, "Other")
    di, _ = admin(idp, operator, mine, "di@example.org")
    ed, ed_signed_in = admin(idp, operator, mine, "ed@example.org")
    flo, _ = admin(idp, operator, other, "flo@example.org")
    ed_id = sub(ed)
    enrolled = changed(idp, ed_id, "added", "totp")  # enrolling mailed the person
    assert enrolled["email"] == "ed@example.org" and enrolled["by_role"] is None
    assert factor_rows(idp, ed_id) == (1, 10)

    own = delete(idp, RESET.format(sub(di)), di)
    assert own.status_code == 409 and own.json["error"]["code"] == "own_second_factor"
    across = delete(idp, RESET.format(ed_id), flo)  # another school's admin
    assert across.status_code == 404
    assert delete(idp, RESET.format(ed_id), flo, school_id=mine).status_code == 404
    old = delete(idp, RESET.format(ed_id), stale(idp, di))
    assert old.status_code == 401 and old.json["error"]["code"] == "step_up_required"
    password_only = idp.sign_in("di@example.org", PASSWORD).json["access_token"]
    refused = delete(idp, RESET.format(ed_id), password_only)
    assert refused.status_code == 401
    assert refused.json["error"]["code"] == "second_factor_required"
    assert factor_rows(idp, ed_id) == (1, 10)  # nothing changed by any refusal

    done = delete(idp, RESET.format(ed_id), di)
    assert done.status_code == 200, done.json
    assert done.json["account_id"] == ed_id and done.json["school_id"] == mine
    assert done.json["actor_id"] == sub(di) and done.json["actor_role"] == "school_admin"
    assert factor_rows(idp, ed_id) == (0, 0)
    again = delete(idp, RESET.format(ed_id), di)
    assert again.status_code == 409
    assert again.json["error"]["code"] == "second_factor_not_enrolled"

    mail = changed(idp, ed_id, "reset", "totp")
    assert mail["by_role"] == "school_admin" and mail["email"] == "ed@example.org"
    assert set(mail) == {"account_id", "name", "email", "kind", "factor", "by_role", "at"}
    # Every sign-in of the person ended: the refresh token and the access token stop.
    refreshed = idp.post("/api/v1/auth/token", {
        "grant_type": "refresh_token", "refresh_token": ed_signed_in["refresh_token"]})
    assert refreshed.status_code == 401
    wait_for(lambda: get(idp, "/api/v1/me", ed).status_code == 401,
             message="the reset person's access token refused")
    # Their next sign-in enrols a new authenticator app before reaching anything.
    fresh = idp.sign_in("ed@example.org", PASSWORD).json
    assert fresh["second_factor"] == "enrol"
    assert get(idp, f"/api/v1/schools/{mine}/second-factors", fresh["access_token"]
               ).status_code == 401

    trail = get(idp, f"/api/v1/schools/{mine}/second-factor-resets", di)
    assert trail.status_code == 200
    (entry,) = trail.json["items"]
    assert (entry["account_id"], entry["actor_id"]) == (ed_id, sub(di))
    assert get(idp, f"/api/v1/schools/{mine}/second-factor-resets", flo).status_code == 404
    assert get(idp, f"/api/v1/schools/{other}/second-factor-resets", operator
               ).json["items"] == []
    staff = {i["account_id"]: i for i in get(
        idp, f"/api/v1/schools/{mine}/second-factors", di).json["items"]}
    assert staff[ed_id]["second_factor"] == "none"
    assert staff[sub(di)]["second_factor"] == "enrolled"
    assert all(set(i) == {"account_id", "name", "email", "second_factor", "enrolled_at",
                          "passkeys"} for i in staff.values())  # never a key nor a code


def test_an_operator_resets_a_school_admins_or_another_operators_factor(idp):
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    di, _ = admin(idp, operator, school, "di@example.org")
    with Session(idp.rt.engine) as session, session.begin():
        idp.identity.ensure_operator(session, "ops2@example.org", "operator-secret-2")
    ops2 = idp.token("ops2@example.org", "operator-secret-2")
    guardian, _ = idp.parent_account(school, "pat@example.org")

    # A school admin never resets an operator's factor (nor sees that it exists), even
    # an operator who is also an admin of their school.
    assert delete(idp, RESET.format(sub(ops2)), di).status_code == 404
    idp.post(f"/api/v1/schools/{school}/staff", {"name": "Op Two", "role": "school_admin",
                                                 "email": "ops2@example.org"}, token=operator)
    idp.accept("ops2@example.org", "operator-secret-2")
    with idp.rt.engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT count(*) FROM memberships WHERE account_id = :a AND status = 'accepted'"),
            {"a": sub(ops2)}).scalar_one() == 1
    assert delete(idp, RESET.format(sub(ops2)), di).status_code == 404
    assert delete(idp, RESET.format(sub(ops2)), di, school_id=school).status_code == 404
    # An operator resets a school admin's; the school's trail records it.
    done = delete(idp, RESET.format(sub(di)), operator)
    assert done.status_code == 200, done.json
    assert done.json["school_id"] == school and done.json["actor_role"] == "operator"
    assert changed(idp, sub(di), "reset", "totp")["by_role"] == "operator"
    assert [e["actor_id"] for e in get(
        idp, f"/api/v1/schools/{school}/second-factor-resets", operator).json["items"]] == [
        sub(operator)]
    # And another operator's: recorded at no school, in the operators' trail.
    assert delete(idp, RESET.format(sub(ops2)), operator).status_code == 200
    (entry,) = get(idp, "/api/v1/accounts/second-factor-resets", operator).json["items"]
    assert entry["account_id"] == sub(ops2) and entry["school_id"] is None
    assert idp.sign_in("ops2@example.org", "operator-secret-2").json[
        "second_factor"] == "enrol"
    # A login that is neither (a parent's) or nobody's: 404.
    with idp.rt.engine.connect() as conn:
        parent_login = conn.execute(sa.text(
            "SELECT account_id FROM memberships WHERE guardian_id = :g"),
            {"g": guardian}).scalar_one()
    assert delete(idp, RESET.format(parent_login), operator).status_code == 404
    assert delete(idp, RESET.format(uuid.uuid4()), operator).status_code == 404
    with idp.rt.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(second_factor_resets)
                            ).scalar_one() == 2


def test_the_owner_replaces_their_authenticator_app_and_recovery_codes(idp):
    operator = idp.token(*OPERATOR)
    me = sub(operator)
    old = stale(idp, operator)
    for path in ("/api/v1/auth/second-factor/totp/replacement",
                 "/api/v1/auth/second-factor/recovery-codes"):
        refused = idp.post(path, {}, old)
        assert refused.status_code == 401, path
        assert refused.json["error"]["code"] == "step_up_required"
    confirm = "/api/v1/auth/second-factor/totp/replacement/confirm"
    not_started = idp.post(confirm, {"code": "123456"}, operator)
    assert not_started.status_code == 409
    assert not_started.json["error"]["code"] == "second_factor_not_enrolled"

    started = idp.post("/api/v1/auth/second-factor/totp/replacement", {}, operator)
    assert started.status_code == 201, started.json
    new_key = started.json["key"]
    assert new_key != second_factor.key_of(me)
    assert started.json["qr_svg"].startswith("<svg")
    with idp.rt.engine.connect() as conn:
        row = conn.execute(sa.select(second_factors)).one()
    assert new_key not in row.pending_sealed_totp_key
    # Until confirmed, the app in use still passes.
    still = idp.sign_in(*OPERATOR).json
    assert idp.post("/api/v1/auth/second-factor", second_factor.next_factor(me),
                    still["access_token"]).status_code == 200
    wrong = idp.post(confirm, {"code": pyotp.TOTP(second_factor.key_of(me)).now()},
                     operator)
    assert wrong.status_code == 401 and wrong.json["error"]["code"] == "invalid_second_factor"
    confirmed = idp.post(confirm, {"code": pyotp.TOTP(new_key).now()}, operator)
    assert confirmed.status_code == 200, confirmed.json
    codes = confirmed.json["recovery_codes"]
    assert len(set(codes)) == 10
    assert changed(idp, me, "replaced", "totp")["by_role"] is None

    # The old app's codes and the old recovery codes no longer pass; the new app's do.
    later = idp.sign_in(*OPERATOR).json["access_token"]
    old_key = second_factor.key_of(me)
    old_code = pyotp.TOTP(old_key).at(time.time() + 30)
    assert idp.post("/api/v1/auth/second-factor", {"code": old_code}, later
                    ).status_code == 401
    second_factor.remember(me, new_key, codes)
    assert idp.post("/api/v1/auth/second-factor", {"recovery_code": codes[0]}, later
                    ).status_code == 200

    regenerated = idp.post("/api/v1/auth/second-factor/recovery-codes", {}, operator)
    assert regenerated.status_code == 200, regenerated.json
    fresh_codes = regenerated.json["recovery_codes"]
    assert len(fresh_codes) == 10 and not set(fresh_codes) & set(codes)
    assert changed(idp, me, "replaced", "recovery_codes")
    third = idp.sign_in(*OPERATOR).json["access_token"]
    assert idp.post("/api/v1/auth/second-factor", {"recovery_code": codes[1]}, third
                    ).status_code == 401
    assert idp.post("/api/v1/auth/second-factor", {"recovery_code": fresh_codes[0]}, third
                    ).status_code == 200
    second_factor.remember(me, new_key, fresh_codes[1:])
    for mail in changes(idp, me):  # no mail event carries a key or a code
        assert not set(mail) & {"key", "code", "codes", "recovery_codes", "uri"}
        assert new_key not in str(mail) and not any(c in str(mail) for c in fresh_codes)


def test_the_access_export_shows_the_factor_and_erasure_removes_it(idp):
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    di, _ = admin(idp, operator, school, "di@example.org")
    ed, _ = admin(idp, operator, school, "ed@example.org")
    di_id = sub(di)
    # A recovery code used: nine left.
    again = idp.sign_in("di@example.org", PASSWORD).json["access_token"]
    with idp.rt.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(recovery_codes).where(
            recovery_codes.c.account_id == di_id, recovery_codes.c.used_at.is_(None))
        ).scalar_one() == 10
    second_factor._recovery[di_id].sort()
    code = second_factor._recovery[di_id].pop()
    assert idp.post("/api/v1/auth/second-factor", {"recovery_code": code}, again
                    ).status_code == 200
    assert delete(idp, RESET.format(sub(ed)), di).status_code == 200

    def export(account_id):
        request = idp.publish("AccessRequested", {
            "subject": {"school_id": school, "type": "staff", "id": account_id},
            "subject_request_id": str(uuid.uuid4())}, school, producer="dsar")
        return idp.tap.wait("SubjectDataExported",
                            lambda d: d["request_id"] == request.id)["data"]["tables"]
    tables = export(di_id)
    (account,) = tables["accounts"]
    factor = account["second_factor"]
    assert factor["type"] == "totp" and factor["recovery_codes_remaining"] == 9
    assert factor["enrolled_at"]
    text = str(tables)
    assert "sealed:" not in text and "$argon2" not in text
    assert second_factor.key_of(di_id) not in text
    assert not any(c in text for c in second_factor._recovery[di_id])
    ed_tables = export(sub(ed))
    assert ed_tables["accounts"][0]["second_factor"] is None  # reset: none now
    assert [r["actor_id"] for r in ed_tables["second_factor_resets"]] == [di_id]

    erasure = idp.publish("ErasureRequested", {
        "subject": {"school_id": school, "type": "staff", "id": di_id},
        "subject_request_id": str(uuid.uuid4())}, school, producer="dsar")
    idp.tap.wait("ErasureCompleted", lambda d: d["request_id"] == erasure.id)
    assert factor_rows(idp, di_id) == (0, 0)
    erase_ed = idp.publish("ErasureRequested", {
        "subject": {"school_id": school, "type": "staff", "id": sub(ed)},
        "subject_request_id": str(uuid.uuid4())}, school, producer="dsar")
    idp.tap.wait("ErasureCompleted", lambda d: d["request_id"] == erase_ed.id)
    with idp.rt.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(second_factor_resets)
                            ).scalar_one() == 0


def test_passkeys_added_and_removed_are_mailed_and_a_reset_removes_them(idp):
    """The passkey work calls the same hook: SecondFactorChanged added/removed passkey;
    a reset by another admin takes the person's passkeys too (a clean start)."""
    from services.identity.models import passkeys
    from tests.integration.test_passkeys_real import add_passkey, device_for
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    di, _ = admin(idp, operator, school, "di@example.org")
    ed, _ = admin(idp, operator, school, "ed@example.org")
    ed_id = sub(ed)
    first = add_passkey(idp, ed, device_for(idp), "Work laptop")
    assert changed(idp, ed_id, "added", "passkey")["email"] == "ed@example.org"
    removed = idp.client.delete(f"/api/v1/auth/passkeys/{first['id']}",
                                headers={"Authorization": f"Bearer {ed}"})
    assert removed.status_code == 204, removed.json
    assert changed(idp, ed_id, "removed", "passkey")
    add_passkey(idp, ed, device_for(idp), "Phone")
    assert delete(idp, RESET.format(ed_id), di).status_code == 200
    with idp.rt.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(passkeys).where(
            passkeys.c.account_id == ed_id)).scalar_one() == 0
    assert factor_rows(idp, ed_id) == (0, 0)
