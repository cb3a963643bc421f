"""Passkeys through identity's API (issue 25), on SQLite, with a software authenticator
making genuine WebAuthn answers: adding, listing, signing in instead of a password (both
factors for staff), single-use expiring challenges, and removing one."""
import datetime as dt
import json
from dataclasses import replace

import jwt
import pytest

from services.identity.app import SPEC
from services.identity.models import passkey_challenges, passkeys, plumbing
from shared.config import Settings
from shared.service import ServiceRuntime
from tests import second_factor
from tests.passkey_authenticator import SoftAuthenticator

OPERATOR = ("ops-passkeys@example.org", "operator-secret-1")
ORIGIN = "http://localhost:8080"


@pytest.fixture
def service(tmp_path):
    settings = replace(Settings.from_env({"PP_DATA_DIR": str(tmp_path)}),
                       bootstrap_operator_email=OPERATOR[0],
                       bootstrap_operator_password=OPERATOR[1])
    assert settings.passkey_rp_id == "localhost" and settings.passkey_origins == (ORIGIN,)
    rt = ServiceRuntime(SPEC, settings)
    rt.start()
    yield rt, rt.create_app().test_client()
    rt.engine.dispose()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def password_sign_in(client) -> dict:
    answer = client.post("/api/v1/auth/token", json={
        "grant_type": "password", "email": OPERATOR[0], "password": OPERATOR[1]}).json
    return second_factor.complete(second_factor.flask_post(client), answer)


def add_passkey(client, token, device, name="My laptop"):
    begun = client.post("/api/v1/auth/passkeys/registration", headers=bearer(token),
                        json={})
    assert begun.status_code == 201, begun.json
    added = client.post("/api/v1/auth/passkeys", headers=bearer(token), json={
        "challenge_id": begun.json["challenge_id"], "name": name,
        "credential": device.create(begun.json["options"])})
    assert added.status_code == 201, added.json
    return added.json


def passkey_sign_in(client, device, **kwargs):
    begun = client.post("/api/v1/auth/passkey/options")
    assert begun.status_code == 201
    return client.post("/api/v1/auth/passkey", json={
        "challenge_id": begun.json["challenge_id"],
        "credential": device.get(begun.json["options"], **kwargs)})


def claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def test_an_operator_adds_a_passkey_and_signs_in_with_it_as_both_factors(service):
    _, client = service
    token = password_sign_in(client)["access_token"]
    device = SoftAuthenticator(ORIGIN)
    added = add_passkey(client, token, device, name="  Office   key ")
    assert added["name"] == "Office key" and added["last_used_at"] is None
    listed = client.get("/api/v1/auth/passkeys", headers=bearer(token)).json["items"]
    assert [p["name"] for p in listed] == ["Office key"]
    assert set(listed[0]) == {"id", "name", "created_at", "last_used_at"}  # never a key

    signed_in = passkey_sign_in(client, device)
    assert signed_in.status_code == 200, signed_in.json
    answer = signed_in.json
    assert answer["role"] == "operator" and answer["second_factor"] == "passed"
    access = claims(answer["access_token"])
    assert access["amr"] == ["hwk", "user", "mfa"] and "otp_at" in access
    # Staff endpoints take it with no code, the gravest (step-up) too.
    assert client.get("/api/v1/schools", headers=bearer(answer["access_token"])
                      ).status_code == 200
    made = client.post("/api/v1/schools", headers=bearer(answer["access_token"]), json={
        "name": "Passkey School", "student_accounts": False})
    assert made.status_code == 201, made.json
    issued = client.post(f"/api/v1/schools/{made.json['id']}/clients",
                         headers=bearer(answer["access_token"]))
    assert issued.status_code == 201, issued.json
    # A refresh keeps saying how the sign-in was made.
    refreshed = client.post("/api/v1/auth/token", json={
        "grant_type": "refresh_token", "refresh_token": answer["refresh_token"]}).json
    assert claims(refreshed["access_token"])["amr"] == ["hwk", "user", "mfa"]
    assert refreshed["second_factor"] == "passed"
    used = client.get("/api/v1/auth/passkeys", headers=bearer(token)).json["items"][0]
    assert used["last_used_at"] is not None


def test_a_challenge_is_used_once_and_expires(service):
    rt, client = service
    token = password_sign_in(client)["access_token"]
    device = SoftAuthenticator(ORIGIN)
    add_passkey(client, token, device)
    begun = client.post("/api/v1/auth/passkey/options").json
    answer = device.get(begun["options"])
    first = client.post("/api/v1/auth/passkey", json={
        "challenge_id": begun["challenge_id"], "credential": answer})
    assert first.status_code == 200
    replayed = client.post("/api/v1/auth/passkey", json={
        "challenge_id": begun["challenge_id"], "credential": device.get(begun["options"])})
    assert replayed.status_code == 401 and replayed.json["error"]["code"] == "invalid_passkey"

    begun = client.post("/api/v1/auth/passkey/options").json
    with rt.engine.begin() as conn:  # as if five minutes had passed
        conn.execute(passkey_challenges.update().values(
            expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
    late = client.post("/api/v1/auth/passkey", json={
        "challenge_id": begun["challenge_id"], "credential": device.get(begun["options"])})
    assert late.status_code == 401
    with rt.engine.connect() as conn:  # refused challenges are spent too
        assert conn.execute(passkey_challenges.select()).all() == []

    # A registration challenge does not sign in, nor a sign-in's register.
    reg = client.post("/api/v1/auth/passkeys/registration", headers=bearer(token),
                      json={}).json
    crossed = client.post("/api/v1/auth/passkey", json={
        "challenge_id": reg["challenge_id"], "credential": device.get(reg["options"])})
    assert crossed.status_code == 401


def test_a_cloned_passkey_whose_counter_went_back_is_refused(service):
    rt, client = service
    token = password_sign_in(client)["access_token"]
    device = SoftAuthenticator(ORIGIN)
    add_passkey(client, token, device)
    assert passkey_sign_in(client, device).status_code == 200
    device.credentials[0].sign_count = 0  # the clone's counter is behind the original's
    refused = passkey_sign_in(client, device)
    assert refused.status_code == 401 and refused.json["error"]["code"] == "invalid_passkey"


def test_another_origin_and_no_user_verification_are_refused(service):
    _, client = service
    token = password_sign_in(client)["access_token"]
    device = SoftAuthenticator(ORIGIN)
    add_passkey(client, token, device)
    assert passkey_sign_in(client, device, origin="http://evil.example").status_code == 401
    device.verifies_user = False
    assert passkey_sign_in(client, device).status_code == 401
    begun = client.post("/api/v1/auth/passkeys/registration", headers=bearer(token),
                        json={}).json
    refused = client.post("/api/v1/auth/passkeys", headers=bearer(token), json={
        "challenge_id": begun["challenge_id"], "name": "Lazy",
        "credential": device.create(begun["options"])})
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "passkey_not_registered"


def test_a_removed_passkey_signs_nobody_in(service):
    rt, client = service
    token = password_sign_in(client)["access_token"]
    device = SoftAuthenticator(ORIGIN)
    added = add_passkey(client, token, device)
    gone = client.delete(f"/api/v1/auth/passkeys/{added['id']}", headers=bearer(token))
    assert gone.status_code == 204
    assert client.get("/api/v1/auth/passkeys", headers=bearer(token)).json["items"] == []
    assert passkey_sign_in(client, device).status_code == 401
    again = client.delete(f"/api/v1/auth/passkeys/{added['id']}", headers=bearer(token))
    assert again.status_code == 404
    with rt.engine.connect() as conn:
        assert conn.execute(passkeys.select()).all() == []


def refresh(client, answer):
    return client.post("/api/v1/auth/token", json={
        "grant_type": "refresh_token", "refresh_token": answer["refresh_token"]})


def revocations(rt):
    outbox = plumbing.outbox
    with rt.engine.connect() as conn:
        rows = conn.execute(outbox.select().where(
            outbox.c.event_type == "TokensRevoked")).all()
    return [json.loads(row.payload)["data"] for row in rows]  # the envelopes' data


def test_removing_a_passkey_ends_every_sign_in_it_began_the_one_removing_it_too(service):
    """The sign-in asking is ended too when the passkey began it: it may be a thief's,
    holding the lost phone's sign-in, who would otherwise keep it by removing first."""
    rt, client = service
    desk = password_sign_in(client)
    device = SoftAuthenticator(ORIGIN)
    added = add_passkey(client, desk["access_token"], device)
    lost_phone = passkey_sign_in(client, device).json
    lost_phone = refresh(client, lost_phone).json  # its next token names the passkey too
    laptop = passkey_sign_in(client, device).json
    before = len(revocations(rt))

    gone = client.delete(f"/api/v1/auth/passkeys/{added['id']}",
                         headers=bearer(laptop["access_token"]))
    assert gone.status_code == 204
    refused = refresh(client, lost_phone)
    assert refused.status_code == 401, refused.json
    assert refresh(client, laptop).status_code == 401  # the sign-in removing it too
    ended = [r for r in revocations(rt)[before:] if r["reason"] == "passkey_removed"]
    assert sorted(r["session_id"] for r in ended) == sorted(
        claims(answer["access_token"])["sid"] for answer in (lost_phone, laptop))
    assert refresh(client, desk).status_code == 200  # a password's sign-in goes on


def test_removing_a_passkey_removes_those_added_while_signed_in_with_it(service):
    """A thief holding a lost phone's fresh sign-in adds a passkey of their own before
    the owner removes the phone's: it goes with the phone's, and the sign-ins it began
    end. One added by a password's sign-in stays."""
    _, client = service
    desk = password_sign_in(client)
    phone_device, thief_device, desk_device = (SoftAuthenticator(ORIGIN) for _ in range(3))
    phones = add_passkey(client, desk["access_token"], phone_device, name="Phone")
    desks = add_passkey(client, desk["access_token"], desk_device, name="Desk key")
    phone = passkey_sign_in(client, phone_device).json
    add_passkey(client, phone["access_token"], thief_device, name="Phone 2")
    thief = passkey_sign_in(client, thief_device).json

    gone = client.delete(f"/api/v1/auth/passkeys/{phones['id']}",
                         headers=bearer(desk["access_token"]))
    assert gone.status_code == 204
    listed = client.get("/api/v1/auth/passkeys", headers=bearer(desk["access_token"]))
    assert [p["id"] for p in listed.json["items"]] == [desks["id"]]
    assert passkey_sign_in(client, thief_device).status_code == 401
    assert refresh(client, thief).status_code == 401
    assert refresh(client, desk).status_code == 200


def test_a_sign_in_the_removal_ended_adds_no_passkey_in_its_access_tokens_last_seconds(
        service):
    """Its access token verifies until the revocation reaches the service (here never:
    no broker): a thief finishing an addition begun before the owner's removal."""
    _, client = service
    desk = password_sign_in(client)
    phone_device, thief_device = SoftAuthenticator(ORIGIN), SoftAuthenticator(ORIGIN)
    phones = add_passkey(client, desk["access_token"], phone_device, name="Phone")
    phone = passkey_sign_in(client, phone_device).json
    begun = client.post("/api/v1/auth/passkeys/registration",
                        headers=bearer(phone["access_token"]), json={})
    assert begun.status_code == 201
    assert client.delete(f"/api/v1/auth/passkeys/{phones['id']}",
                         headers=bearer(desk["access_token"])).status_code == 204
    added = client.post("/api/v1/auth/passkeys", headers=bearer(phone["access_token"]), json={
        "challenge_id": begun.json["challenge_id"], "name": "Phone 2",
        "credential": thief_device.create(begun.json["options"])})
    assert added.status_code == 401, added.json  # as every use of an ended sign-in
    assert added.json["error"]["code"] == "invalid_grant"
    assert client.get("/api/v1/auth/passkeys", headers=bearer(desk["access_token"])
                      ).json["items"] == []


def test_staff_need_the_second_factor_before_adding_a_passkey(service):
    _, client = service
    password_only = client.post("/api/v1/auth/token", json={
        "grant_type": "password", "email": OPERATOR[0], "password": OPERATOR[1]}).json
    password_sign_in(client)  # enrols the authenticator app
    password_only = client.post("/api/v1/auth/token", json={
        "grant_type": "password", "email": OPERATOR[0], "password": OPERATOR[1]}).json
    assert password_only["second_factor"] == "required"
    refused = client.post("/api/v1/auth/passkeys/registration",
                          headers=bearer(password_only["access_token"]))
    assert refused.status_code == 401
    assert refused.json["error"]["code"] == "second_factor_required"


def test_bad_input_is_a_clear_4xx_and_changes_nothing(service):
    rt, client = service
    token = password_sign_in(client)["access_token"]
    begun = client.post("/api/v1/auth/passkeys/registration", headers=bearer(token),
                        json={}).json
    device = SoftAuthenticator(ORIGIN)
    for body in ({"challenge_id": begun["challenge_id"], "name": "",
                  "credential": device.create(begun["options"])},
                 {"challenge_id": "not-a-uuid", "name": "x", "credential": {}},
                 {"challenge_id": begun["challenge_id"], "name": "x",
                  "credential": {"id": "x" * 20000}}):
        answer = client.post("/api/v1/auth/passkeys", headers=bearer(token), json=body)
        assert answer.status_code == 422, answer.json
    assert client.post("/api/v1/auth/passkey", json={"credential": {}}).status_code == 422
    assert client.post("/api/v1/auth/passkey", json={
        "challenge_id": begun["challenge_id"], "credential": {"rawId": 5}}).status_code == 422
    with rt.engine.connect() as conn:
        assert conn.execute(passkeys.select()).all() == []
    assert client.get("/api/v1/auth/passkeys").status_code == 401


def test_staff_add_a_passkey_only_with_a_recent_factor_never_the_password_alone(service):
    """A stolen token alone must not plant a passkey (one outlives a password reset), and
    for staff a passkey is both factors: the second factor within 15 minutes, the
    password being no stand-in for it (parents' password path: test_passkeys_real)."""
    rt, client = service
    answer = password_sign_in(client)
    from services.identity.models import refresh_tokens
    with rt.engine.begin() as conn:  # as if the code had been given 16 minutes ago
        conn.execute(refresh_tokens.update().values(
            otp_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=16)))
    stale = client.post("/api/v1/auth/token", json={
        "grant_type": "refresh_token", "refresh_token": answer["refresh_token"]}).json
    token = stale["access_token"]
    for body in ({}, {"password": "not-the-password"}, {"password": OPERATOR[1]}):
        refused = client.post("/api/v1/auth/passkeys/registration", headers=bearer(token),
                              json=body)
        assert refused.status_code == 401
        assert refused.json["error"]["code"] == "step_up_required"
    with rt.engine.connect() as conn:
        assert conn.execute(passkey_challenges.select()).all() == []


def test_a_role_not_held_spends_the_challenge(service):
    _, client = service
    token = password_sign_in(client)["access_token"]
    device = SoftAuthenticator(ORIGIN)
    add_passkey(client, token, device)
    begun = client.post("/api/v1/auth/passkey/options").json
    answer = device.get(begun["options"])
    wrong_role = client.post("/api/v1/auth/passkey", json={
        "challenge_id": begun["challenge_id"], "credential": answer, "role": "parent"})
    assert wrong_role.status_code == 422
    again = client.post("/api/v1/auth/passkey", json={
        "challenge_id": begun["challenge_id"], "credential": answer})
    assert again.status_code == 401  # the same answer is not good twice


def test_one_address_holds_a_bounded_number_of_open_sign_in_challenges(service):
    rt, client = service
    from services.identity.passkey_rules import OPEN_SIGN_IN_CHALLENGES
    here = {"REMOTE_ADDR": "203.0.113.9"}
    for _ in range(OPEN_SIGN_IN_CHALLENGES):
        assert client.post("/api/v1/auth/passkey/options", environ_base=here
                           ).status_code == 201
    flooded = client.post("/api/v1/auth/passkey/options", environ_base=here)
    assert flooded.status_code == 429 and int(flooded.headers["Retry-After"]) >= 1
    elsewhere = client.post("/api/v1/auth/passkey/options",
                            environ_base={"REMOTE_ADDR": "203.0.113.10"})
    assert elsewhere.status_code == 201  # another address is not held back
    with rt.engine.connect() as conn:
        assert len(conn.execute(passkey_challenges.select()).all()) == (
            OPEN_SIGN_IN_CHALLENGES + 1)
