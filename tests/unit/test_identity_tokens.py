"""Token attacks against a real service's endpoint (identity's /api/v1/me), and signing
key rotation with its overlap window. SQLite and the in-memory broker: no plumbing needed."""
import base64
import datetime as dt
import hashlib
import hmac
import json
from dataclasses import replace

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.identity.app import SPEC
from shared.auth import AUDIENCE, ISSUER, key_id
from shared.config import Settings
from shared.service import ServiceRuntime
from tests import second_factor

OPERATOR = ("ops@example.org", "operator-secret-1")


@pytest.fixture
def service(tmp_path):
    settings = replace(Settings.from_env({"PP_DATA_DIR": str(tmp_path)}),
                       bootstrap_operator_email=OPERATOR[0],
                       bootstrap_operator_password=OPERATOR[1])
    rt = ServiceRuntime(SPEC, settings)
    rt.start()
    app = rt.create_app()
    yield rt, app.test_client(), app
    rt.engine.dispose()


def sign_in(client) -> str:
    response = client.post("/api/v1/auth/token", json={
        "grant_type": "password", "email": OPERATOR[0], "password": OPERATOR[1]})
    assert response.status_code == 200
    return second_factor.complete(second_factor.flask_post(client),
                                  response.json)["access_token"]


def me(client, token) -> int:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hs256(secret: bytes, header: dict, claims: dict) -> str:
    """Hand-made, since PyJWT itself refuses to HMAC-sign with a public key."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_a_valid_token_is_accepted(service):
    _, client, _ = service
    assert me(client, sign_in(client)) == 200


def test_token_attacks_are_refused_inside_the_service(service):
    rt, client, _ = service
    good = sign_in(client)
    header = jwt.get_unverified_header(good)
    claims = jwt.decode(good, options={"verify_signature": False})
    public = rt.context.use_cases.identity.keys.public_keys()[header["kid"]]
    public_pem = public.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)
    public_raw = public.public_bytes(serialization.Encoding.Raw,
                                     serialization.PublicFormat.Raw)
    ring = rt.context.use_cases.identity.keys
    private = ring._key(ring._rows()[0])
    head, body, signature = good.split(".")
    tampered_claims = {**claims, "role": "operator", "sub": "someone-else"}
    attacks = {
        "alg none": f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{body}.",
        "HS256 with the public key (PEM)": hs256(public_pem, {**header, "alg": "HS256"},
                                                 claims),
        "HS256 with the public key (raw)": hs256(public_raw, {**header, "alg": "HS256"},
                                                 claims),
        "expired": jwt.encode({**claims, "exp": claims["iat"] - 60, "iat": claims["iat"] - 120,
                               "nbf": claims["iat"] - 120}, private, algorithm="EdDSA",
                              headers={"kid": header["kid"]}),
        "wrong issuer": jwt.encode({**claims, "iss": "not-" + ISSUER}, private,
                                   algorithm="EdDSA", headers={"kid": header["kid"]}),
        "wrong audience": jwt.encode({**claims, "aud": "not-" + AUDIENCE}, private,
                                     algorithm="EdDSA", headers={"kid": header["kid"]}),
        "unknown kid": jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA",
                                  headers={"kid": "f" * 16}),
        "known kid, other key": jwt.encode(claims, Ed25519PrivateKey.generate(),
                                           algorithm="EdDSA", headers={"kid": header["kid"]}),
        "tampered payload": f"{head}.{b64(json.dumps(tampered_claims).encode())}.{signature}",
        "tampered signature": f"{head}.{body}.{b64(unb64(signature)[::-1])}",
    }
    refused = {name: me(client, token) for name, token in attacks.items()}
    assert refused == {name: 401 for name in attacks}


def test_a_rotated_out_key_works_through_the_overlap_then_stops(service):
    rt, client, app = service
    ring = rt.context.use_cases.identity.keys
    old_token = sign_in(client)
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    new_kid = ring.rotate()
    # The sign-in's second factor is passed with its token: identity's own verifier, which
    # checked the old one a moment ago, learns the new key at its refresh.
    app.extensions["pp_verifier"].refresh()
    new_token = sign_in(client)
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid != old_kid
    published = {k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]}
    assert published == {old_kid, new_kid}
    assert me(client, old_token) == 200 and me(client, new_token) == 200  # overlap

    start = ring.clock()
    ring.clock = lambda: start + ring.overlap + dt.timedelta(seconds=1)
    ring._cached = None
    app.extensions["pp_verifier"].refresh()  # the verifier's periodic key refresh
    published = {k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]}
    assert published == {new_kid}
    assert me(client, old_token) == 401
    assert me(client, new_token) == 200


def test_the_overlap_is_never_shorter_than_an_access_token_lives(service):
    rt, _, _ = service
    ring = rt.context.use_cases.identity.keys
    assert ring.overlap >= dt.timedelta(seconds=rt.settings.access_token_seconds)
    assert key_id  # the kid is derived from the key (shared.auth.key_id)
