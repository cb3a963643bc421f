"""Token attacks against every service (issue "Hardening"): each of the six services is
asked, on an authenticated endpoint, with forged, tampered, stale and misaddressed tokens,
and answers 401 with the JSON error shape. Each forged token differs from a token the
service accepts (the control, checked first) in one respect only, so a check that stopped
being made would let it through.

Every service is tried twice: with the verifier embedded mode shares (identity's key
ring), and with a verifier fed from identity's /.well-known/jwks.json as separate
processes use. Also: a replayed refresh token revokes its whole sign-in, and the tokens of
an account the school removed reach nothing. Real PostgreSQL and RabbitMQ, every service in
this process (tests/system.py).

A token that was valid stops working on every service within seconds of a sign-out, a
password reset, an erasure of the account, a school's removal of a member of staff or
of a parent, and a client's revocation (TokensRevoked, docs/decisions.md)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from types import SimpleNamespace

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.auth import AUDIENCE, ISSUER, TokenVerifier, _jwk_to_key, key_id
from shared.config import SERVICES
from tests import second_factor
from tests.support import wait_for
from tests.system import OPERATOR, RealSystem, guardian, student

pytestmark = pytest.mark.integration

PARENT_PASSWORD = "a-parent-password-1"


def _scalar(system, service, sql, **params):
    with system.runtimes[service].engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def sign_in(system, email, password) -> dict:
    """A sign-in's tokens; a staff or operator one passed the second factor."""
    response = system.call("identity", "post", "/api/v1/auth/token", json={
        "grant_type": "password", "email": email, "password": password})
    assert response.status_code == 200, response.json
    return second_factor.complete(second_factor.flask_post(system.clients["identity"]),
                                  response.json)


def refresh(system, token):
    return system.call("identity", "post", "/api/v1/auth/token", json={
        "grant_type": "refresh_token", "refresh_token": token})


@pytest.fixture(scope="module")
def world(module_settings, tmp_path_factory, module_database):
    system = RealSystem(module_settings, tmp_path_factory.mktemp("tokens"), module_database,
                        list(SERVICES))
    try:
        school, system_token = system.school("School A")
        system.push(system_token, [
            student("S1", "2013-11-07", given_name="Alba"),
            {"type": "class.upserted", "source_id": "C1", "data": {
                "name": "7 Maths", "subject": "Maths", "teacher_ids": [],
                "student_ids": ["S1"]}},
            {"type": "attainment.recorded", "source_id": "A1", "data": {
                "student_id": "S1", "class_id": "C1", "period": "2026 Autumn",
                "kind": "grade", "value": "B"}},
            guardian("GP", "p@a.example.org", {"S1": True}),
            guardian("GG", "gone@a.example.org", {"S1": True})])
        s1 = system.tap.wait("StudentRecorded", lambda d: d["given_name"] == "Alba"
                             )["data"]["student_id"]
        parent = system.activate("p@a.example.org", PARENT_PASSWORD)
        gone = system.activate("gone@a.example.org", PARENT_PASSWORD)
        admin = system.admin(school, "admin@a.example.org")
        for token in (parent, gone):
            link = wait_for(lambda t=token: system.call("linking", "get", "/api/v1/links", t
                                                        ).json["items"], message="link")[0]
            wait_for(lambda t=token, i=link["id"]: system.call(
                "linking", "post", f"/api/v1/links/{i}/verify", t,
                {"date_of_birth": "2013-11-07"}).status_code == 200, message="verified")
        wait_for(lambda: _scalar(system, "reports", "SELECT count(*) FROM parent_access "
                                                    "WHERE verified") == 2,
                 message="reports knows both parents")
        wait_for(lambda: _scalar(system, "reports", "SELECT count(*) FROM attainment") == 1,
                 message="reports has the grade")
        assert system.call("reports", "post", "/api/v1/reports/publish", admin, {
            "period": "2026 Autumn", "title": "Autumn"}).json["published"] == 1
        signer = system.runtimes["identity"].context.use_cases.identity.keys.signer()
        tokens = {"A_admin": admin, "A_parent": parent, "A_gone": gone,
                  "A_system": system_token, "operator": system.operator}
        claims = {name: jwt.decode(t, options={"verify_signature": False})
                  for name, t in tokens.items()}
        assert {(c["iss"], c["aud"]) for c in claims.values()} == {(ISSUER, AUDIENCE)}
        assert claims["operator"]["role"] == "operator"
        yield SimpleNamespace(system=system, school=school, s1=s1, tokens=tokens,
                              claims=claims, signer=signer)
    finally:
        system.close()


# --- the endpoints and the attacks ---------------------------------------------------------------
# One authenticated endpoint per service, and whose (real) token it takes: the control
# gets 200 with that caller's claims, so a forged token with the same claims would too.
ENDPOINTS = {
    "identity": ("get", "/api/v1/me", "A_admin"),
    "ingest": ("get", "/api/v1/school-data/oneroster/settings", "A_admin"),
    "linking": ("get", "/api/v1/links", "A_parent"),
    "reports": ("get", "/api/v1/students/{s1}/reports", "A_parent"),
    "notifications": ("get", "/api/v1/notification-preferences", "A_parent"),
    "dsar": ("get", "/api/v1/subject-requests", "A_admin"),
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jws(header: dict, claims: dict, sign) -> str:
    signing_input = (f"{_b64(json.dumps(header).encode())}."
                     f"{_b64(json.dumps(claims).encode())}")
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def _fresh(claims: dict, **changes) -> dict:
    now = int(time.time())
    out = {**claims, "iat": now, "nbf": now, "exp": now + 600, "jti": str(uuid.uuid4()),
           **changes}
    return {k: v for k, v in out.items() if v is not _DROP}


_DROP = object()
FOREIGN = Ed25519PrivateKey.generate()


def _hs256(secret: bytes):
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def valid(w, caller: str) -> str:
    """The caller's claims, freshly signed with identity's key: what the service accepts."""
    return _jws({"alg": "EdDSA", "typ": "JWT", "kid": w.signer.kid},
                _fresh(w.claims[caller]), w.signer.key.sign)


def attacks(w, caller: str) -> dict[str, str | None]:
    """name -> the Authorization header (None: none sent)."""
    claims = w.claims[caller]
    kid, real = w.signer.kid, w.signer.key
    public = real.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    eddsa = {"alg": "EdDSA", "typ": "JWT"}

    def signed(key, header_extra=None, **changes):
        return "Bearer " + _jws({**eddsa, **(header_extra or {})}, _fresh(claims, **changes),
                                key.sign)
    good = valid(w, caller)
    head, _, signature = good.rpartition(".")
    forged_payload = _b64(json.dumps(_fresh(claims, role="operator", school_ids=[])).encode())
    operator_claims = {"sub": w.claims["operator"]["sub"], "role": "operator",
                       "school_ids": []}
    return {
        "no token": None,
        "empty bearer": "Bearer ",
        "basic scheme": "Basic " + base64.b64encode(b"p@a.example.org:x").decode(),
        "valid token, wrong scheme": "Token " + good,
        "not a jwt": "Bearer not-a-jwt",
        "three garbage segments": "Bearer a.b.c",
        "alg none": "Bearer " + _jws({"alg": "none", "typ": "JWT", "kid": kid},
                                     _fresh(claims), lambda data: b""),
        "alg none, no signature segment": "Bearer " + _jws(
            {"alg": "none", "typ": "JWT"}, _fresh(claims), lambda data: b"").rstrip("."),
        "HS256 with the public key (PEM) as secret": "Bearer " + _jws(
            {"alg": "HS256", "typ": "JWT", "kid": kid}, _fresh(claims), _hs256(pem)),
        "HS256 with the public key (raw) as secret": "Bearer " + _jws(
            {"alg": "HS256", "typ": "JWT", "kid": kid}, _fresh(claims), _hs256(raw)),
        "HS256 with the JWK's x as secret": "Bearer " + _jws(
            {"alg": "HS256", "typ": "JWT", "kid": kid}, _fresh(claims),
            _hs256(_b64(raw).encode())),
        "foreign key, identity's kid": signed(FOREIGN, {"kid": kid}),
        "foreign key, unknown kid": signed(FOREIGN, {"kid": key_id(FOREIGN.public_key())}),
        "foreign key, no kid": signed(FOREIGN),
        "foreign key, its own JWK embedded in the header": signed(FOREIGN, {
            "kid": kid, "jwk": {"kty": "OKP", "crv": "Ed25519",
                                "x": _b64(FOREIGN.public_key().public_bytes(
                                    serialization.Encoding.Raw,
                                    serialization.PublicFormat.Raw))}}),
        "role forged to operator, foreign key": signed(FOREIGN, {"kid": kid},
                                                       **operator_claims),
        "claims changed after signing": f"Bearer {head.split('.')[0]}.{forged_payload}."
                                        f"{signature}",
        "signature of another token": "Bearer " + ".".join(
            signed(real, {"kid": kid}, sub=str(uuid.uuid4())).split(" ", 1)[1]
            .split(".")[:2] + [signature]),
        "expired": signed(real, {"kid": kid}, iat=int(time.time()) - 1200,
                          nbf=int(time.time()) - 1200, exp=int(time.time()) - 60),
        "not yet valid": signed(real, {"kid": kid}, nbf=int(time.time()) + 600),
        "wrong audience": signed(real, {"kid": kid}, aud="another-api"),
        "no audience": signed(real, {"kid": kid}, aud=_DROP),
        "wrong issuer": signed(real, {"kid": kid}, iss="someone-else"),
        "no expiry": signed(real, {"kid": kid}, exp=_DROP),
        "unknown role": signed(real, {"kid": kid}, role="superuser"),
        "school_ids not a list": signed(real, {"kid": kid},
                                        school_ids=w.claims[caller]["school_ids"][0]),
    }


def _jwks_verifier(w) -> TokenVerifier:
    """What a service in its own process verifies with: identity's JWKS document."""
    identity = w.system.clients["identity"]

    def load():
        document = identity.get("/.well-known/jwks.json").json
        keys = [_jwk_to_key(k) for k in document["keys"]]
        return {key_id(k): k for k in keys}
    return TokenVerifier(load)


def _app(w, service: str, mode: str):
    if mode == "shared":
        return w.system.clients[service]
    runtime = w.system.runtimes[service]
    shared = runtime.verifier
    runtime.verifier = _jwks_verifier(w)
    try:
        return runtime.create_app().test_client()
    finally:
        runtime.verifier = shared


def _request(client, method, path, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    return getattr(client, method)(path, headers=headers)


def _is_401(response) -> bool:
    body = response.get_json(silent=True)
    return (response.status_code == 401 and response.mimetype == "application/json"
            and isinstance(body, dict) and set(body) == {"error"}
            and body["error"]["code"] == "unauthorized"
            and isinstance(body["error"]["message"], str) and body["error"]["message"])


@pytest.mark.parametrize("mode", ["shared", "jwks"])
@pytest.mark.parametrize("service", list(ENDPOINTS))
def test_every_forged_or_stale_token_is_refused_with_401(world, service, mode):
    w = world
    method, template, caller = ENDPOINTS[service]
    path = template.format(s1=w.s1)
    client = _app(w, service, mode)
    # The control: the same claims, properly signed now, are accepted (with real data).
    accepted = _request(client, method, path, f"Bearer {valid(w, caller)}")
    assert accepted.status_code == 200, (accepted.status_code, accepted.json)
    if service in ("linking", "reports"):
        assert accepted.json["items"], "the control reads the parent's data"
    problems = []
    for name, authorization in attacks(w, caller).items():
        response = _request(client, method, path, authorization)
        if not _is_401(response):
            problems.append(f"{name}: {response.status_code} {response.get_data(True)[:200]}")
    assert not problems, f"{service} ({mode}) accepted or misanswered:\n" + "\n".join(problems)


def test_a_forged_operator_token_changes_nothing_at_operator_only_endpoints(world):
    w = world
    kid = w.signer.kid
    forged = "Bearer " + _jws({"alg": "EdDSA", "typ": "JWT", "kid": kid}, _fresh(
        w.claims["operator"]), FOREIGN.sign)
    identity, notifications = w.system.clients["identity"], w.system.clients["notifications"]
    for response in (
            identity.patch(f"/api/v1/schools/{w.school}", json={"name": "Pwned"},
                           headers={"Authorization": forged}),
            identity.post("/api/v1/schools", json={"name": "Rogue"},
                          headers={"Authorization": forged}),
            identity.post(f"/api/v1/schools/{w.school}/clients",
                          headers={"Authorization": forged}),
            notifications.post("/api/v1/privacy-notices", json={
                "version": "rogue", "effective_date": "2030-01-01", "text": "Rogue."},
                headers={"Authorization": forged})):
        assert _is_401(response), (response.status_code, response.json)
    assert _scalar(w.system, "identity", "SELECT name FROM schools WHERE id=:s",
                   s=w.school) == "School A"
    assert _scalar(w.system, "identity", "SELECT count(*) FROM schools") == 1
    assert _scalar(w.system, "identity", "SELECT count(*) FROM clients") == 1
    # The real operator's token does what the forged one could not.
    assert identity.post("/api/v1/schools", json={"name": "Real"}, headers={
        "Authorization": f"Bearer {w.system.operator}"}).status_code == 201


def test_a_replayed_refresh_token_is_refused_and_revokes_its_whole_sign_in(world):
    system = world.system
    first = sign_in(system, "p@a.example.org", PARENT_PASSWORD)
    other = sign_in(system, "p@a.example.org", PARENT_PASSWORD)  # another device
    rotated = refresh(system, first["refresh_token"])
    assert rotated.status_code == 200 and rotated.json["refresh_token"] != first[
        "refresh_token"]
    replay = refresh(system, first["refresh_token"])
    assert replay.status_code == 401 and replay.json["error"]["code"] == "invalid_grant"
    assert set(replay.json) == {"error"}
    # The thief's (or the owner's) newer token from that sign-in stops working too ...
    after = refresh(system, rotated.json["refresh_token"])
    assert after.status_code == 401 and after.json["error"]["code"] == "invalid_grant"
    # ... and stays refused; the account's other sign-in is not that family.
    assert refresh(system, rotated.json["refresh_token"]).status_code == 401
    kept = refresh(system, other["refresh_token"])
    assert kept.status_code == 200
    # Logging out revokes that family as well.
    assert system.call("identity", "post", "/api/v1/auth/logout", json={
        "refresh_token": kept.json["refresh_token"]}).status_code == 204
    assert refresh(system, kept.json["refresh_token"]).status_code == 401
    assert refresh(system, "x" * 43).status_code == 401  # never issued


def test_the_tokens_of_an_account_the_school_removed_reach_nothing(world):
    """A removed parent's login is deleted: its refresh token and password are refused
    (401), and so is its access token, by every service, within seconds (TokensRevoked)."""
    w = world
    system = w.system
    session = sign_in(system, "gone@a.example.org", PARENT_PASSWORD)
    access = session["access_token"]
    reports_path = f"/api/v1/students/{w.s1}/reports"
    assert system.call("reports", "get", reports_path, access).status_code == 200
    assert system.call("linking", "get", "/api/v1/links", access).json["items"]
    account = w.claims["A_gone"]["sub"]
    system.push(w.tokens["A_system"], [{"type": "guardian.deleted", "source_id": "GG", "data": {}}])
    wait_for(lambda: _scalar(system, "identity", "SELECT count(*) FROM accounts WHERE id=:a",
                             a=account) == 0, message="the login deleted")
    wait_for(lambda: _scalar(system, "reports", "SELECT count(*) FROM parent_access WHERE "
                                                "account_id=:a AND verified", a=account) == 0,
             message="reports no longer lets the login in")
    renewed = refresh(system, session["refresh_token"])
    assert renewed.status_code == 401 and renewed.json["error"]["code"] == "invalid_grant"
    password = system.call("identity", "post", "/api/v1/auth/token", json={
        "grant_type": "password", "email": "gone@a.example.org",
        "password": PARENT_PASSWORD})
    assert password.status_code == 401 and password.json["error"]["code"] == \
        "invalid_credentials"
    refused_everywhere(w, access)
    # The other parent, whose login stays, still reads the child's reports.
    assert system.call("reports", "get", reports_path, w.tokens["A_parent"]
                       ).status_code == 200



# --- revoked tokens --------------------------------------------------------------------------
REVOCATION_DEADLINE = 10.0  # seconds: "within a few seconds", with room for a slow machine


def answers(w, token: str) -> dict[str, object]:
    """Each service's answer to the token on its endpoint (the table above)."""
    out = {}
    for service, (method, template, _) in ENDPOINTS.items():
        out[service] = _request(w.system.clients[service], method,
                                template.format(s1=w.s1), f"Bearer {token}")
    return out


def accepted_everywhere(w, token: str) -> None:
    """Not refused by any service (an endpoint not for this caller's role answers 404)."""
    statuses = {service: r.status_code for service, r in answers(w, token).items()}
    assert 401 not in statuses.values(), statuses


def refused_everywhere(w, token: str) -> None:
    def refused():
        return all(_is_401(response) for response in answers(w, token).values())
    wait_for(refused, timeout=REVOCATION_DEADLINE, interval=0.1,
             message="every service refusing the token")


def new_parent(w, source: str, email: str) -> str:
    """A parent of S1 with an activated login; the guardian's id."""
    w.system.push(w.tokens["A_system"], [guardian(source, email, {"S1": True})])
    w.system.activate(email, PARENT_PASSWORD)
    return w.system.tap.wait("GuardianRecorded", lambda d: d["email"] == email
                             )["data"]["guardian_id"]


def test_a_sign_out_stops_that_sign_ins_access_token_on_every_service(world):
    w = world
    new_parent(w, "GL", "leaving@a.example.org")
    here = sign_in(w.system, "leaving@a.example.org", PARENT_PASSWORD)
    elsewhere = sign_in(w.system, "leaving@a.example.org", PARENT_PASSWORD)
    accepted_everywhere(w, here["access_token"])
    assert w.system.call("identity", "post", "/api/v1/auth/logout", json={
        "refresh_token": here["refresh_token"]}).status_code == 204
    refused_everywhere(w, here["access_token"])
    accepted_everywhere(w, elsewhere["access_token"])  # another sign-in: not signed out


def test_a_replayed_refresh_token_stops_the_access_tokens_of_that_sign_in(world):
    w = world
    new_parent(w, "GT", "stolen@a.example.org")
    first = sign_in(w.system, "stolen@a.example.org", PARENT_PASSWORD)
    rotated = refresh(w.system, first["refresh_token"]).json
    accepted_everywhere(w, rotated["access_token"])
    assert refresh(w.system, first["refresh_token"]).status_code == 401  # the replay
    refused_everywhere(w, rotated["access_token"])
    refused_everywhere(w, first["access_token"])


def test_a_password_reset_stops_every_access_token_and_a_new_sign_in_works_at_once(world):
    w = world
    email = "forgetful@a.example.org"
    new_parent(w, "GR", email)
    old = [sign_in(w.system, email, PARENT_PASSWORD)["access_token"] for _ in range(2)]
    for token in old:
        accepted_everywhere(w, token)
    assert w.system.call("identity", "post", "/api/v1/auth/password-reset",
                         json={"email": email}).status_code == 202
    reset_token = w.system.tap.wait("PasswordResetRequested",
                                    lambda d: d["email"] == email)["data"]["token"]
    assert w.system.call("identity", "post", "/api/v1/auth/password-reset/confirm", json={
        "token": reset_token, "password": "a-new-password-22"}).status_code == 200
    fresh = sign_in(w.system, email, "a-new-password-22")["access_token"]  # same second
    for token in old:
        refused_everywhere(w, token)
    accepted_everywhere(w, fresh)


def test_an_erased_accounts_access_token_is_refused_by_every_service(world):
    w = world
    guardian_id = new_parent(w, "GE", "erased@a.example.org")
    access = sign_in(w.system, "erased@a.example.org", PARENT_PASSWORD)["access_token"]
    accepted_everywhere(w, access)
    answer = w.system.rights_request("ErasureRequested", w.school, "guardian", guardian_id,
                                     "identity")
    assert answer["data"]["outcome"] == "done" and answer["data"]["counts"]["accounts"] == 1
    refused_everywhere(w, access)


def test_a_member_of_staff_the_school_removed_is_refused_by_every_service(world):
    """A school removes an admin by erasing the staff subject (their account's id)."""
    w = world
    access = w.system.admin(w.school, "leaver@a.example.org")
    accepted_everywhere(w, access)
    assert w.system.call("dsar", "get", "/api/v1/subject-requests", access
                         ).status_code == 200
    account = jwt.decode(access, options={"verify_signature": False})["sub"]
    answer = w.system.rights_request("ErasureRequested", w.school, "staff", account,
                                     "identity")
    assert answer["data"]["outcome"] == "done"
    refused_everywhere(w, access)
    assert _scalar(w.system, "identity", "SELECT count(*) FROM memberships WHERE "
                                         "account_id=:a", a=account) == 0


def test_a_revoked_clients_token_is_refused_by_every_service(world):
    w = world
    client = w.system.call("identity", "post", f"/api/v1/schools/{w.school}/clients",
                           w.system.operator).json
    access = w.system.call("identity", "post", "/api/v1/auth/token", json={
        "grant_type": "client_credentials", **client}).json["access_token"]
    accepted_everywhere(w, access)
    assert w.system.call("ingest", "get", "/api/v1/school-data/batches", access
                         ).status_code == 200
    assert w.system.call("identity", "delete", f"/api/v1/schools/{w.school}/clients/"
                         f"{client['client_id']}", w.system.operator).status_code == 204
    refused_everywhere(w, access)
    assert _is_401(w.system.call("ingest", "get", "/api/v1/school-data/batches", access))
    accepted_everywhere(w, w.tokens["A_system"])  # the school's other client is untouched


def test_a_school_removing_what_a_person_never_accepted_signs_them_out_nowhere(world):
    """Red team (issue 21): school C records school A's admin's email (a guardian, a staff
    invitation) and the person never accepts. C then removes the record, erases the staff
    subject and is offboarded: none of it may stop the admin's tokens at A. A pending
    membership is in no token, and a revocation there let any school sign any person it
    knew the email of out of every service, as often as it liked. C's own admin, who did
    accept, is signed out by the offboarding as before."""
    w, system = world, world.system
    account, email = w.claims["A_admin"]["sub"], "admin@a.example.org"

    def revocations(subject) -> int:  # TokensRevoked identity published about the login
        return sum(1 for e in system.tap.seen if e["type"] == "TokensRevoked"
                   and e["data"]["subject_id"] == subject)

    def memberships_at(school, role="%") -> int:
        return _scalar(system, "identity", "SELECT count(*) FROM memberships WHERE "
                       "account_id = :a AND school_id = :s AND role LIKE :r",
                       a=account, s=school, r=role)

    before = revocations(account)
    school, school_system = system.school("School C")
    c_admin = system.admin(school, "admin@c.example.org")
    system.push(school_system, [student("CS1", given_name="Cato"),
                                guardian("CG1", email, {"CS1": True})])
    invited = system.call("identity", "post", f"/api/v1/schools/{school}/staff", c_admin,
                          {"name": "Ada Elsewhere", "email": email, "role": "school_admin"})
    assert invited.status_code == 201 and invited.json["id"] == account
    wait_for(lambda: memberships_at(school) == 2, message="C's two pending memberships")

    system.push(school_system, [{"type": "guardian.deleted", "source_id": "CG1"}])
    wait_for(lambda: memberships_at(school, "parent") == 0, message="C's guardian removed")
    answer = system.rights_request("ErasureRequested", school, "staff", account, "identity")
    assert answer["data"]["outcome"] == "done" and memberships_at(school) == 0
    system.push(school_system, [guardian("CG2", email, {"CS1": True})])
    wait_for(lambda: memberships_at(school) == 1, message="C's guardian again")
    assert system.call("identity", "delete", f"/api/v1/schools/{school}",
                       system.operator).status_code == 202
    wait_for(lambda: _scalar(system, "identity", "SELECT status FROM schools WHERE id = :s",
                             s=school) == "offboarded", message="C offboarded")

    # The offboarding signs C's admin out; identity published it after everything above.
    c_account = jwt.decode(c_admin, options={"verify_signature": False})["sub"]
    system.tap.wait("TokensRevoked", lambda d: d["subject_id"] == c_account)
    refused_everywhere(w, c_admin)
    assert revocations(account) == before
    accepted_everywhere(w, w.tokens["A_admin"])


# --- the second factor (issue 25) ---------------------------------------------------------
# A staff or operator endpoint of each service; the control (the caller's token that passed
# the second factor) reaches it: 200, or 422 for a body left empty.
STAFF_ENDPOINTS = [
    ("identity", "get", "/api/v1/schools", "operator", 200),
    ("identity", "get", "/api/v1/me", "A_admin", 200),
    ("ingest", "get", "/api/v1/school-data/oneroster/settings", "A_admin", 200),
    ("linking", "get", "/api/v1/links/students", "A_admin", 200),
    ("reports", "get", "/api/v1/reports", "A_admin", 200),
    ("notifications", "post", "/api/v1/privacy-notices", "operator", 422),
    ("dsar", "get", "/api/v1/subject-requests", "A_admin", 200),
    ("dsar", "get", "/api/v1/offboardings", "operator", 200),
]


@pytest.mark.parametrize("service,method,path,caller,control", STAFF_ENDPOINTS)
def test_a_staff_token_without_the_second_factor_reaches_no_service(
        world, service, method, path, caller, control):
    """Properly signed, fresh, of a real sign-in, but not through the second factor: every
    service answers 401 second_factor_required, to a real password-only token too."""
    w = world
    client = w.system.clients[service]

    def answer(token):
        return getattr(client, method)(path, json={} if method == "post" else None,
                                       headers={"Authorization": f"Bearer {token}"})
    accepted = answer(valid(w, caller))
    assert accepted.status_code == control, (accepted.status_code, accepted.json)
    kid, key = w.signer.kid, w.signer.key
    claims = w.claims[caller]
    password_only = w.system.call("identity", "post", "/api/v1/auth/token", json={
        "grant_type": "password", "email": _email_of(w, caller),
        "password": _password_of(caller)}).json
    assert password_only["second_factor"] == "required"
    tokens = {"real password-only sign-in": password_only["access_token"],
              **{name: _jws({"alg": "EdDSA", "typ": "JWT", "kid": kid},
                            _fresh(claims, **changes), key.sign)
                 for name, changes in {
                     "no amr": {"amr": _DROP, "otp_at": _DROP},
                     "amr of the password only": {"amr": ["pwd"], "otp_at": _DROP},
                     "amr a string": {"amr": "otp"},
                     "another method named": {"amr": ["pwd", "sms"]}}.items()}}
    problems = []
    for name, token in tokens.items():
        response = answer(token)
        body = response.get_json(silent=True) or {}
        if (response.status_code != 401
                or body.get("error", {}).get("code") != "second_factor_required"):
            problems.append(f"{name}: {response.status_code} {body}")
    assert not problems, f"{service} {path}:\n" + "\n".join(problems)


def _email_of(w, caller):
    return {"operator": OPERATOR[0], "A_admin": "admin@a.example.org"}[caller]


def _password_of(caller):
    return {"operator": OPERATOR[1], "A_admin": "an-admin-password-1"}[caller]


# The only staff endpoints a token without the second factor may call: those that pass it.
PASSES_THE_FACTOR = {("identity", "post", "/api/v1/auth/second-factor/totp"),
                     ("identity", "post", "/api/v1/auth/second-factor/totp/confirm"),
                     ("identity", "post", "/api/v1/auth/second-factor")}


def _staff_operations(w) -> list[tuple[str, str, str, str]]:
    """(service, method, path, caller) for every operation a staff role may call, as each
    service's OpenAPI document says (`x-roles`), with each staff caller it names."""
    from tests.openapi_documents import SERVICES as DOCUMENTED, served_document
    found = []
    for service in DOCUMENTED:
        doc = served_document(w.system.clients[service], service)
        for path, item in doc["paths"].items():
            for method, op in item.items():
                roles = op.get("x-roles", []) if isinstance(op, dict) else []
                for role, caller in (("operator", "operator"), ("school_admin", "A_admin")):
                    if role in roles:
                        found.append((service, method, path, caller))
    return found


def test_every_staff_endpoint_of_every_service_refuses_a_token_without_the_second_factor(
        world):
    """Issue 25, every staff and operator endpoint, read from the services' own OpenAPI
    documents (a new one cannot escape): a real password-only sign-in's token, and a
    token signed by identity with no `amr`, get 401 second_factor_required (before any id
    or body is looked at), except on the three endpoints that pass the factor."""
    w = world
    operations = _staff_operations(w)
    from tests.openapi_documents import SERVICES as DOCUMENTED
    assert {s for s, *_ in operations} == set(DOCUMENTED)  # every service serves staff
    assert len(operations) >= 60  # the documents were read
    assert PASSES_THE_FACTOR <= {(s, m, p) for s, m, p, _ in operations}
    password_only = {}
    for caller in ("operator", "A_admin"):
        answer = w.system.call("identity", "post", "/api/v1/auth/token", json={
            "grant_type": "password", "email": _email_of(w, caller),
            "password": _password_of(caller)}).json
        assert answer["second_factor"] == "required"
        forged = _jws({"alg": "EdDSA", "typ": "JWT", "kid": w.signer.kid},
                      _fresh(w.claims[caller], amr=_DROP, otp_at=_DROP), w.signer.key.sign)
        password_only[caller] = {"password-only sign-in": answer["access_token"],
                                 "no amr": forged}
    problems, checked = [], 0
    for service, method, template, caller in operations:
        if (service, method, template) in PASSES_THE_FACTOR:
            continue
        path = re.sub(r"{[^}]+}", lambda _: str(uuid.uuid4()), template)
        client = w.system.clients[service]
        for name, token in password_only[caller].items():
            response = getattr(client, method)(
                path, json={} if method in ("post", "put", "patch") else None,
                headers={"Authorization": f"Bearer {token}"})
            body = response.get_json(silent=True) or {}
            checked += 1
            if (response.status_code != 401
                    or body.get("error", {}).get("code") != "second_factor_required"):
                problems.append(f"{service} {method.upper()} {template} as {caller} "
                                f"({name}): {response.status_code} {body}")
    assert not problems, "\n".join(problems)
    assert checked >= 100
