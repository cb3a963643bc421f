"""A lost phone's sign-in after its passkey is removed, attacked as a thief holding it
would (docs/decisions.md "Removing a passkey ends the sign-ins it began"): its refresh
token and its access tokens stop on every service within seconds, whoever removes the
passkey (the thief too: else removing it first would keep the stolen sign-in alive with
nothing left to end it by), a passkey the thief added with it first goes with it, and a
refresh racing the removal keeps nothing alive. Another login cannot remove it. Real
PostgreSQL and RabbitMQ, every service in this process (the `world` of
test_token_attacks_real.py); the passkeys' answers are genuine WebAuthn ones
(tests/passkey_authenticator.py)."""
from __future__ import annotations

import concurrent.futures
import threading

import jwt
import pytest

from tests.integration.test_token_attacks_real import (PARENT_PASSWORD, accepted_everywhere,
                                                       new_parent, refresh,
                                                       refused_everywhere, sign_in,
                                                       world)  # noqa: F401  (fixture)
from tests.passkey_authenticator import SoftAuthenticator

pytestmark = pytest.mark.integration


def _parent_with_a_phone(w, source: str, email: str):
    """A parent signed in with the password (the laptop), a passkey added (the phone's),
    and the phone signed in with it and refreshed once (its token names the passkey)."""
    new_parent(w, source, email)
    laptop = sign_in(w.system, email, PARENT_PASSWORD)
    device = SoftAuthenticator(w.system.settings.passkey_origins[0])
    begun = w.system.call("identity", "post", "/api/v1/auth/passkeys/registration",
                          laptop["access_token"], {"password": PARENT_PASSWORD})
    assert begun.status_code == 201, begun.json
    added = w.system.call("identity", "post", "/api/v1/auth/passkeys", laptop["access_token"],
                          {"challenge_id": begun.json["challenge_id"], "name": "Phone",
                           "credential": device.create(begun.json["options"])})
    assert added.status_code == 201, added.json
    phone = _passkey_sign_in(w, device)
    phone = refresh(w.system, phone["refresh_token"]).json
    return laptop, phone, added.json["id"]


def _passkey_sign_in(w, device) -> dict:
    begun = w.system.call("identity", "post", "/api/v1/auth/passkey/options").json
    answer = w.system.call("identity", "post", "/api/v1/auth/passkey", json={
        "challenge_id": begun["challenge_id"], "credential": device.get(begun["options"])})
    assert answer.status_code == 200, answer.json
    return answer.json


def _remove(w, token: str, passkey_id: str, password: str | None = None):
    """A removal, with the login's password given again (a password's sign-in needs it,
    as for adding; a fresh passkey sign-in does not)."""
    return w.system.call("identity", "delete", f"/api/v1/auth/passkeys/{passkey_id}", token,
                         {"password": password} if password else None)


def test_the_owner_removing_the_lost_phones_passkey_ends_its_sign_in_everywhere(world):  # noqa: F811
    w = world
    laptop, phone, passkey_id = _parent_with_a_phone(w, "GPK1", "phone1@a.example.org")
    accepted_everywhere(w, phone["access_token"])
    # Another login (the school's admin) cannot remove it, and nothing ends.
    assert _remove(w, w.tokens["A_admin"], passkey_id).status_code == 404
    accepted_everywhere(w, phone["access_token"])

    assert _remove(w, laptop["access_token"], passkey_id, PARENT_PASSWORD).status_code == 204
    refused_everywhere(w, phone["access_token"])
    assert refresh(w.system, phone["refresh_token"]).status_code == 401
    accepted_everywhere(w, laptop["access_token"])  # the owner's sign-in goes on
    assert refresh(w.system, laptop["refresh_token"]).status_code == 200


def test_the_thief_removing_the_passkey_first_ends_the_stolen_sign_in_too(world):  # noqa: F811
    """Kept, the stolen sign-in would outlive the passkey: the owner, seeing it gone,
    could no longer end the phone's sign-in but by a password reset, and the thief's
    refreshes would keep it alive."""
    w = world
    laptop, phone, passkey_id = _parent_with_a_phone(w, "GPK2", "phone2@a.example.org")
    assert _remove(w, phone["access_token"], passkey_id).status_code == 204
    assert refresh(w.system, phone["refresh_token"]).status_code == 401
    refused_everywhere(w, phone["access_token"])
    accepted_everywhere(w, laptop["access_token"])  # a password's sign-in goes on


def test_a_passkey_the_thief_added_first_goes_with_the_phones(world):  # noqa: F811
    """The phone's sign-in is fresh (a passkey is a recent factor), so the thief adds a
    passkey of their own, no password asked, before the owner removes the phone's: it is
    removed with it, and the sign-in it began ends everywhere."""
    w = world
    laptop, phone, passkey_id = _parent_with_a_phone(w, "GPK4", "phone4@a.example.org")
    thiefs = SoftAuthenticator(w.system.settings.passkey_origins[0])
    begun = w.system.call("identity", "post", "/api/v1/auth/passkeys/registration",
                          phone["access_token"], {})
    assert begun.status_code == 201, begun.json
    assert w.system.call("identity", "post", "/api/v1/auth/passkeys", phone["access_token"],
                         {"challenge_id": begun.json["challenge_id"], "name": "Phone",
                          "credential": thiefs.create(begun.json["options"])}
                         ).status_code == 201
    thief = _passkey_sign_in(w, thiefs)
    accepted_everywhere(w, thief["access_token"])

    assert _remove(w, laptop["access_token"], passkey_id, PARENT_PASSWORD).status_code == 204
    refused_everywhere(w, thief["access_token"])
    assert refresh(w.system, thief["refresh_token"]).status_code == 401
    again = w.system.call("identity", "post", "/api/v1/auth/passkey/options").json
    assert w.system.call("identity", "post", "/api/v1/auth/passkey", json={
        "challenge_id": again["challenge_id"], "credential": thiefs.get(again["options"])}
    ).status_code == 401
    assert w.system.call("identity", "get", "/api/v1/auth/passkeys", laptop["access_token"]
                         ).json["items"] == []


def test_a_refresh_racing_the_removal_keeps_the_stolen_sign_in_nowhere(world):  # noqa: F811
    """The thief refreshes over and over while the owner removes the passkey: whichever
    comes first, the last refresh token and access token the thief got stop."""
    w = world
    laptop, phone, passkey_id = _parent_with_a_phone(w, "GPK3", "phone3@a.example.org")
    removed = threading.Event()
    latest = dict(phone)

    def thief() -> int:
        refreshes = 0
        own = w.system.clients["identity"].application.test_client()  # its own client
        while True:
            answer = own.post("/api/v1/auth/token", json={
                "grant_type": "refresh_token", "refresh_token": latest["refresh_token"]})
            if answer.status_code != 200:
                return refreshes
            latest.update(answer.json)
            refreshes += 1
            if removed.is_set() and refreshes > 100:
                return refreshes  # never refused: the assertions below say so

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        racing = pool.submit(thief)
        assert _remove(w, laptop["access_token"], passkey_id, PARENT_PASSWORD).status_code == 204
        removed.set()
        racing.result(timeout=60)
    assert refresh(w.system, latest["refresh_token"]).status_code == 401
    refused_everywhere(w, latest["access_token"])
    sid = jwt.decode(latest["access_token"], options={"verify_signature": False})["sid"]
    assert sid == jwt.decode(phone["access_token"], options={"verify_signature": False})["sid"]
