"""The sign-in hardening (docs/decisions.md "Sign-in hardening") attacked from outside:
someone replaying an old refresh token, a stolen one among them. Real PostgreSQL and
RabbitMQ, every service in this process (the `world` of test_token_attacks_real.py).

A sign-in begun before migration 0020 has no sign_in_ends_at: its end is counted from its
first token's issue (rotated tokens are kept), not from its next refresh, else a refresh
token held since before the migration got 90 days more however old its sign-in."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from tests import second_factor
from tests.integration.test_sign_in_hardening_attacks_real import _reset
from tests.passkey_authenticator import SoftAuthenticator
from tests.integration.test_token_attacks_real import (PARENT_PASSWORD, new_parent,
                                                       refresh, sign_in,
                                                       world)  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def _execute(w, sql: str, **params):
    """`sql` run on identity's database; a SELECT's rows."""
    with w.system.runtimes["identity"].engine.begin() as conn:
        result = conn.execute(sa.text(sql), params)
        return result.all() if result.returns_rows else None


def test_a_sign_in_begun_before_the_lifetime_existed_ends_90_days_after_it_began(world):  # noqa: F811
    """A refresh token of a sign-in begun before migration 0020 (sign_in_ends_at NULL),
    refreshed monthly since it began 100 days ago, replayed by whoever holds it: the
    sign-in is past its absolute lifetime, counted from its first token, not from now."""
    w = world
    email = "outsider1@a.example.org"
    new_parent(w, "GO1", email)
    began = sign_in(w.system, email, PARENT_PASSWORD)
    latest = refresh(w.system, began["refresh_token"]).json
    _execute(w, "UPDATE refresh_tokens SET sign_in_ends_at = NULL, issued_at = CASE "
                "WHEN rotated_at IS NULL THEN now() - interval '1 day' "
                "ELSE now() - interval '100 days' END "
                "WHERE account_id = (SELECT id FROM accounts WHERE email = :e)", e=email)
    replayed = refresh(w.system, latest["refresh_token"])
    assert replayed.status_code == 401, replayed.json
    assert replayed.json["error"]["reason"] == "sign_in_expired"


def test_a_pre_lifetime_sign_in_younger_than_90_days_keeps_its_first_token_s_end(world):  # noqa: F811
    """The same sign-in begun 10 days ago goes on, and its end is fixed from its start:
    80 days from now, not 90."""
    w = world
    email = "outsider2@a.example.org"
    new_parent(w, "GO2", email)
    began = sign_in(w.system, email, PARENT_PASSWORD)
    _execute(w, "UPDATE refresh_tokens SET sign_in_ends_at = NULL, "
                "issued_at = now() - interval '10 days' "
                "WHERE account_id = (SELECT id FROM accounts WHERE email = :e)", e=email)
    again = refresh(w.system, began["refresh_token"])
    assert again.status_code == 200, again.json
    ends = _execute(w, "SELECT sign_in_ends_at - now() FROM refresh_tokens WHERE "
                       "account_id = (SELECT id FROM accounts WHERE email = :e) "
                       "ORDER BY issued_at DESC LIMIT 1", e=email)[0][0]
    assert dt.timedelta(days=79) < ends < dt.timedelta(days=81), ends


def _register(w, token: str, begun: dict, device: SoftAuthenticator):
    return w.system.call("identity", "post", "/api/v1/auth/passkeys", token, {
        "challenge_id": begun["challenge_id"], "name": "Phone",
        "credential": device.create(begun["options"])})


def test_a_parents_passkey_sign_in_from_before_a_promotion_adds_no_staff_passkey(world):  # noqa: F811
    """A thief holding a parent's unlocked phone, fresh from a passkey sign-in (a fresh
    factor for a parent), keeps its access token while the school makes the parent its
    admin and the owner accepts: that token, from before, must not add a passkey that
    signs in as the admin with both factors."""
    w = world
    email = "outsider9@a.example.org"
    new_parent(w, "GO9", email)
    laptop = sign_in(w.system, email, PARENT_PASSWORD)
    phone_device = SoftAuthenticator(w.system.settings.passkey_origins[0])
    begun = w.system.call("identity", "post", "/api/v1/auth/passkeys/registration",
                          laptop["access_token"], {"password": PARENT_PASSWORD}).json
    phone_id = _register(w, laptop["access_token"], begun, phone_device).json["id"]
    opened = w.system.call("identity", "post", "/api/v1/auth/passkey/options").json
    phone = w.system.call("identity", "post", "/api/v1/auth/passkey", json={
        "challenge_id": opened["challenge_id"],
        "credential": phone_device.get(opened["options"])}).json
    assert phone["role"] == "parent"
    early = w.system.call("identity", "post", "/api/v1/auth/passkeys/registration",
                          phone["access_token"], {}).json  # a fresh factor, for a parent
    assert w.system.call("identity", "post", f"/api/v1/schools/{w.school}/staff",
                         w.system.operator, {"name": "Pat Promoted", "email": email,
                                             "role": "school_admin"}).status_code == 201
    w.system.activate(email, PARENT_PASSWORD)  # the owner accepts, on the laptop

    thiefs = SoftAuthenticator(w.system.settings.passkey_origins[0])
    begun = w.system.call("identity", "post", "/api/v1/auth/passkeys/registration",
                          phone["access_token"], {})
    assert begun.status_code == 401, begun.json
    assert begun.json["error"]["code"] == "step_up_required"
    # Nor finishing one begun before the promotion; nor removing the owner's passkey.
    assert _register(w, phone["access_token"], early, thiefs).status_code == 401
    opened = w.system.call("identity", "post", "/api/v1/auth/passkey/options").json
    assert w.system.call("identity", "post", "/api/v1/auth/passkey", json={
        "challenge_id": opened["challenge_id"], "role": "school_admin",
        "credential": thiefs.get(opened["options"])}).status_code == 401
    removed = w.system.call("identity", "delete", f"/api/v1/auth/passkeys/{phone_id}",
                            phone["access_token"], {})
    assert removed.status_code == 401, removed.json


def test_an_ended_sign_in_passes_no_second_factor_into_a_new_token(world, monkeypatch):  # noqa: F811
    """An admin fearing a thief resets the password: every sign-in ends. In the seconds
    the thief's access token still verifies (identity's revocations not yet read: held
    here), the thief passes the second factor with the authenticator or a recovery code
    they hold: no new access token of the ended sign-in, which the revocation (naming
    the tokens issued before it) would never name, and which passing again before it
    expires would keep alive for ever."""
    w = world
    email = "outsider10@a.example.org"
    thief = w.system.admin(w.school, email)  # signed in, the factor passed
    assert _reset(w, email, "a-new-password-10").status_code == 200
    view = w.system.clients["identity"].application.extensions["pp_revocations"]
    monkeypatch.setattr(view, "is_revoked", lambda claims: False)
    passed = w.system.call("identity", "post", "/api/v1/auth/second-factor", thief,
                           second_factor.next_factor(second_factor.account_of(thief)))
    monkeypatch.undo()
    assert passed.status_code == 401, passed.json
    assert passed.json["error"]["code"] == "invalid_grant"


def test_an_ended_sign_in_removes_no_passkey(world, monkeypatch):  # noqa: F811
    """The owner removes the lost phone's passkey, ending the thief's fresh sign-in with
    it; in the seconds its access token still verifies (identity's revocations held
    here), the thief removes the owner's other passkey, a fresh factor needing no
    password: refused, as adding one is."""
    w = world
    email = "outsider11@a.example.org"
    new_parent(w, "GO11", email)
    laptop = sign_in(w.system, email, PARENT_PASSWORD)
    devices, ids = [], []
    for _ in range(2):
        device = SoftAuthenticator(w.system.settings.passkey_origins[0])
        begun = w.system.call("identity", "post", "/api/v1/auth/passkeys/registration",
                              laptop["access_token"], {"password": PARENT_PASSWORD}).json
        ids.append(_register(w, laptop["access_token"], begun, device).json["id"])
        devices.append(device)
    opened = w.system.call("identity", "post", "/api/v1/auth/passkey/options").json
    thief = w.system.call("identity", "post", "/api/v1/auth/passkey", json={
        "challenge_id": opened["challenge_id"],
        "credential": devices[0].get(opened["options"])}).json
    assert w.system.call("identity", "delete", f"/api/v1/auth/passkeys/{ids[0]}",
                         laptop["access_token"], {"password": PARENT_PASSWORD}
                         ).status_code == 204
    view = w.system.clients["identity"].application.extensions["pp_revocations"]
    monkeypatch.setattr(view, "is_revoked", lambda claims: False)
    late = w.system.call("identity", "delete", f"/api/v1/auth/passkeys/{ids[1]}",
                         thief["access_token"], {})
    monkeypatch.undo()
    assert late.status_code == 401, late.json
    assert late.json["error"]["code"] == "invalid_grant"
    assert [p["id"] for p in w.system.call("identity", "get", "/api/v1/auth/passkeys",
                                           laptop["access_token"]).json["items"]] == [ids[1]]
