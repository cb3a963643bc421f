"""Sign-in hardening attacked as an outsider would (docs/decisions.md "Sign-in hardening"):
a token alone (a stolen one) removes no passkey without the proof adding one asks; a
password reset ends every sign-in and takes the passkeys a thief may have planted; a
sign-in ends at its absolute lifetime however often it is refreshed. Real PostgreSQL and
RabbitMQ, every service in this process (the `world` of test_token_attacks_real.py); the
passkeys' answers are genuine WebAuthn ones (tests/passkey_authenticator.py)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.integration.test_passkey_removal_attacks_real import _parent_with_a_phone, _remove
from tests.integration.test_token_attacks_real import (PARENT_PASSWORD, accepted_everywhere,
                                                       refresh, world)  # noqa: F401  (fixture)

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
