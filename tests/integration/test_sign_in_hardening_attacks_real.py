"""Sign-in hardening attacked as an outsider would (docs/decisions.md "Sign-in hardening"):
a token alone (a stolen one) removes no passkey without the proof adding one asks; a
password reset ends every sign-in and takes the passkeys a thief may have planted; a
sign-in ends at its absolute lifetime however often it is refreshed. Real PostgreSQL and
RabbitMQ, every service in this process (the `world` of test_token_attacks_real.py); the
passkeys' answers are genuine WebAuthn ones (tests/passkey_authenticator.py)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.integration.test_passkey_removal_attacks_real import (_parent_with_a_phone,
                                                                 _passkey_sign_in, _remove)
from tests.integration.test_token_attacks_real import (PARENT_PASSWORD, accepted_everywhere,
                                                       refresh, refused_everywhere, sign_in,
                                                       world)  # noqa: F401  (fixture)
from tests.passkey_authenticator import SoftAuthenticator

pytestmark = pytest.mark.integration


def _execute(w, sql: str, **params) -> None:
    with w.system.runtimes["identity"].engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _passkeys(w, token: str) -> list[str]:
    return [p["id"] for p in w.system.call("identity", "get", "/api/v1/auth/passkeys",
                                           token).json["items"]]


def test_a_token_alone_removes_no_passkey_the_password_is_asked_as_for_adding(world):  # noqa: F811
    """A stolen laptop's sign-in (the password's, no factor) must not remove the
    phone's passkey, signing the owner's phone out, without the password."""
    w = world
    laptop, phone, passkey_id = _parent_with_a_phone(w, "GH1", "hard1@a.example.org")
    asked = _remove(w, laptop["access_token"], passkey_id)
    assert asked.status_code == 401, asked.json
    assert asked.json["error"]["code"] == "reauthentication_required"
    wrong = _remove(w, laptop["access_token"], passkey_id, "not-the-password-1")
    assert wrong.status_code == 401, wrong.json
    assert wrong.json["error"]["code"] == "invalid_credentials"
    assert _passkeys(w, laptop["access_token"]) == [passkey_id]
    accepted_everywhere(w, phone["access_token"])
    assert refresh(w.system, phone["refresh_token"]).status_code == 200

    assert _remove(w, laptop["access_token"], passkey_id, PARENT_PASSWORD).status_code == 204
    assert _passkeys(w, laptop["access_token"]) == []


def test_an_old_passkey_sign_in_removes_no_passkey_without_the_password(world):  # noqa: F811
    """A passkey sign-in is a fresh factor for 15 minutes only, as for adding: a stolen
    refresh token of an old one keeps giving tokens of that old pass."""
    w = world
    laptop, phone, passkey_id = _parent_with_a_phone(w, "GH2", "hard2@a.example.org")
    _execute(w, "UPDATE refresh_tokens SET otp_at = otp_at - interval '16 minutes' "
                "WHERE revoked_at IS NULL AND rotated_at IS NULL AND passkey_id IS NOT NULL "
                "AND account_id = (SELECT id FROM accounts WHERE email = :e)",
             e="hard2@a.example.org")
    old = refresh(w.system, phone["refresh_token"]).json
    asked = _remove(w, old["access_token"], passkey_id)
    assert asked.status_code == 401, asked.json
    assert asked.json["error"]["code"] == "reauthentication_required"
    assert _passkeys(w, laptop["access_token"]) == [passkey_id]


def _reset(w, email: str, password: str):
    assert w.system.call("identity", "post", "/api/v1/auth/password-reset",
                         json={"email": email}).status_code == 202
    token = w.system.tap.wait("PasswordResetRequested", lambda d: d["email"] == email
                              )["data"]["token"]
    return w.system.call("identity", "post", "/api/v1/auth/password-reset/confirm", json={
        "token": token, "password": password})


def _add_passkey(w, token: str, body: dict) -> tuple[SoftAuthenticator, str]:
    device = SoftAuthenticator(w.system.settings.passkey_origins[0])
    begun = w.system.call("identity", "post", "/api/v1/auth/passkeys/registration", token,
                          body)
    assert begun.status_code == 201, begun.json
    added = w.system.call("identity", "post", "/api/v1/auth/passkeys", token, {
        "challenge_id": begun.json["challenge_id"], "name": "Mine",
        "credential": device.create(begun.json["options"])})
    assert added.status_code == 201, added.json
    return device, added.json["id"]


def _signs_in(w, device) -> int:
    begun = w.system.call("identity", "post", "/api/v1/auth/passkey/options").json
    return w.system.call("identity", "post", "/api/v1/auth/passkey", json={
        "challenge_id": begun["challenge_id"], "credential": device.get(begun["options"])}
    ).status_code


def test_a_password_reset_ends_every_sign_in_and_takes_a_planted_passkey(world):  # noqa: F811
    """A parent who fears someone got in resets the password: every sign-in ends on every
    service (the thief's passkey sign-in too), and the passkeys go, the thief's among them
    (named like the owner's, it could not be told apart on a list); the parent is told."""
    w = world
    email = "hard3@a.example.org"
    laptop, phone, _ = _parent_with_a_phone(w, "GH3", email)
    thiefs, _ = _add_passkey(w, phone["access_token"], {})  # the phone's fresh sign-in
    thief = _passkey_sign_in(w, thiefs)
    accepted_everywhere(w, thief["access_token"])

    done = _reset(w, email, "a-new-password-33")
    assert done.status_code == 200, done.json
    assert done.json == {"status": "reset", "passkeys_removed": 2}
    for signed_in in (laptop, phone, thief):
        refused_everywhere(w, signed_in["access_token"])
        assert refresh(w.system, signed_in["refresh_token"]).status_code == 401
    assert _signs_in(w, thiefs) == 401
    fresh = sign_in(w.system, email, "a-new-password-33")
    assert _passkeys(w, fresh["access_token"]) == []
    account_id = w.system.tap.wait(
        "SecondFactorChanged", lambda d: d["email"] == email and d["kind"] == "removed"
        and d["factor"] == "passkey")["data"]["account_id"]
    revoked = w.system.tap.wait("TokensRevoked", lambda d: d["subject_id"] == account_id
                                and d["reason"] == "password_reset")["data"]
    assert revoked.get("session_id") is None  # every sign-in of the login


def test_a_password_reset_keeps_a_passkey_counting_for_staff(world):  # noqa: F811
    """Only a fresh second factor adds a passkey that counts for staff: it is a second
    factor, which a password reset (the email alone) does not touch, as it leaves the app."""
    w = world
    email = "hard-admin@a.example.org"
    admin = w.system.admin(w.school, email)
    device, passkey_id = _add_passkey(w, admin, {})  # a fresh code: it counts for staff
    done = _reset(w, email, "a-new-password-44")
    assert done.json == {"status": "reset", "passkeys_removed": 0}
    assert _signs_in(w, device) == 200


def test_guessing_the_password_through_a_removal_spends_the_sign_in_budget(
        world, monkeypatch):  # noqa: F811
    """A stolen token asking to remove a passkey is a password oracle unless it is
    limited as a sign-in is: after the free typos the pair (login, address) locks, the
    right password is refused too, and a password sign-in from there as well."""
    w = world
    email = "hard5@a.example.org"
    laptop, _, passkey_id = _parent_with_a_phone(w, "GH5", email)
    # Identity's time held still: the first lock lasts a second, which a loaded machine
    # can spend between the last guess and the right password.
    identity = w.system.runtimes["identity"].context.use_cases.identity
    held = identity.clock()
    monkeypatch.setattr(identity, "clock", lambda: held)
    for guess in range(6):
        wrong = _remove(w, laptop["access_token"], passkey_id, f"guess-number-{guess}")
        assert wrong.status_code == 401, wrong.json
    locked = _remove(w, laptop["access_token"], passkey_id, PARENT_PASSWORD)
    assert locked.status_code == 401 and locked.json["error"]["code"] == "invalid_credentials"
    assert _passkeys(w, laptop["access_token"]) == [passkey_id]
    assert w.system.call("identity", "post", "/api/v1/auth/token", json={
        "grant_type": "password", "email": email, "password": PARENT_PASSWORD}
    ).status_code == 401


def test_a_passkey_begun_before_a_reset_is_not_added_after_it(world):  # noqa: F811
    """A thief holding the password begins adding a passkey; the owner resets; the thief
    finishes with the access token that still verifies for a few seconds: refused, and
    nothing of theirs signs in."""
    w = world
    email = "hard6@a.example.org"
    laptop, _, _ = _parent_with_a_phone(w, "GH6", email)
    thief = sign_in(w.system, email, PARENT_PASSWORD)
    begun = w.system.call("identity", "post", "/api/v1/auth/passkeys/registration",
                          thief["access_token"], {"password": PARENT_PASSWORD})
    assert begun.status_code == 201, begun.json
    assert _reset(w, email, "a-new-password-66").json["passkeys_removed"] == 1
    device = SoftAuthenticator(w.system.settings.passkey_origins[0])
    late = w.system.call("identity", "post", "/api/v1/auth/passkeys", thief["access_token"], {
        "challenge_id": begun.json["challenge_id"], "name": "Phone",
        "credential": device.create(begun.json["options"])})
    assert late.status_code in (401, 422), late.json  # revoked, or refused as ended
    assert _signs_in(w, device) == 401
    fresh = sign_in(w.system, email, "a-new-password-66")
    assert _passkeys(w, fresh["access_token"]) == []
    refused_everywhere(w, laptop["access_token"])

