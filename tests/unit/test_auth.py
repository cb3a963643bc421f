import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask, jsonify

from shared.auth import (AUDIENCE, ISSUER, InvalidToken, TokenSigner, TokenVerifier, key_id,
                         require)
from shared.web import install_error_handlers

KEY = Ed25519PrivateKey.generate()
SIGNER = TokenSigner(KEY, lifetime_seconds=60)
VERIFIER = TokenVerifier(lambda: {key_id(KEY.public_key()): KEY.public_key()})
SCHOOL = "00000000-0000-4000-8000-00000000000a"


def test_issued_token_verifies_to_its_principal():
    principal = VERIFIER.verify(SIGNER.issue("acc-1", "parent", [SCHOOL]))
    assert principal.account_id == "acc-1" and principal.role == "parent"
    assert principal.in_school(SCHOOL)


def _claims(**over):
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "a", "role": "parent", "school_ids": [],
              "iat": now, "exp": now + 60}
    claims.update(over)
    return claims


@pytest.mark.parametrize("token", [
    jwt.encode(_claims(), key=None, algorithm="none"),                         # no signature
    jwt.encode(_claims(), "secret-secret-secret-secret-secret-64", algorithm="HS256"),  # wrong alg
    jwt.encode(_claims(), Ed25519PrivateKey.generate(), algorithm="EdDSA",
               headers={"kid": key_id(KEY.public_key())}),                     # foreign key
    jwt.encode(_claims(exp=int(time.time()) - 600), KEY, algorithm="EdDSA"),   # expired
    jwt.encode(_claims(aud="someone-else"), KEY, algorithm="EdDSA"),           # audience
    jwt.encode(_claims(iss="evil"), KEY, algorithm="EdDSA"),                   # issuer
    jwt.encode(_claims(role="god"), KEY, algorithm="EdDSA"),                   # unknown role
    "not.a.token",
])
def test_bad_tokens_are_refused(token):
    with pytest.raises(InvalidToken):
        VERIFIER.verify(token)


def test_jwks_publishes_the_verifying_key():
    (jwk,) = SIGNER.jwks()["keys"]
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["kid"] == SIGNER.kid
    public = jwt.algorithms.OKPAlgorithm.from_jwk(jwk)
    assert public.public_bytes_raw() == KEY.public_key().public_bytes_raw()


def test_require_answers_401_without_token_and_404_for_other_roles():
    app = Flask("t")
    app.extensions["pp_verifier"] = VERIFIER
    install_error_handlers(app)

    @app.get("/admin-only")
    @require("school_admin")
    def admin_only():
        return jsonify({"ok": True})

    c = app.test_client()
    assert c.get("/admin-only").status_code == 401
    assert c.get("/admin-only", headers={"Authorization": "Bearer junk"}).status_code == 401
    parent = SIGNER.issue("p", "parent", [SCHOOL])
    assert c.get("/admin-only", headers={"Authorization": f"Bearer {parent}"}).status_code == 404
    admin = SIGNER.issue("a", "school_admin", [SCHOOL], amr=["pwd", "otp"])
    assert c.get("/admin-only", headers={"Authorization": f"Bearer {admin}"}).status_code == 200


@pytest.mark.parametrize("role", ["school_admin", "operator"])
def test_a_staff_token_without_the_second_factor_is_refused(role):
    """Staff and operators: a token of the password alone (or with no `amr`) is refused
    with 401 second_factor_required, except where the factor is passed."""
    app = Flask("t")
    app.extensions["pp_verifier"] = VERIFIER
    install_error_handlers(app)

    @app.get("/staff")
    @require(role, "parent")
    def staff():
        return jsonify({"ok": True})

    @app.post("/pass")
    @require(role, second_factor=False)
    def pass_():
        return jsonify({"ok": True})

    c = app.test_client()
    for claims in ({}, {"amr": ["pwd"]}, {"amr": "otp"}, {"amr": ["pwd", "mfa"]},
                   {"amr": ["hwk"]}, {"amr": ["user", "mfa"]}):
        token = SIGNER.issue("a", role, [SCHOOL], **claims)
        answer = c.get("/staff", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, claims
        assert answer.json["error"]["code"] == "second_factor_required"
        assert c.post("/pass", headers={"Authorization": f"Bearer {token}"}
                      ).status_code == 200
    passed = SIGNER.issue("a", role, [SCHOOL], amr=["pwd", "otp"])
    assert c.get("/staff", headers={"Authorization": f"Bearer {passed}"}).status_code == 200
    passkey = SIGNER.issue("a", role, [SCHOOL], amr=["hwk", "user", "mfa"])  # both at once
    assert c.get("/staff", headers={"Authorization": f"Bearer {passkey}"}).status_code == 200
    parent = SIGNER.issue("p", "parent", [SCHOOL], amr=["pwd"])  # parents need none
    assert c.get("/staff", headers={"Authorization": f"Bearer {parent}"}).status_code == 200


def test_a_grave_action_wants_the_second_factor_passed_within_fifteen_minutes():
    from shared.auth import STEP_UP_SECONDS
    app = Flask("t")
    app.extensions["pp_verifier"] = VERIFIER
    install_error_handlers(app)

    @app.post("/grave")
    @require("operator", step_up=True)
    def grave():
        return jsonify({"ok": True})

    c = app.test_client()
    now = int(time.time())
    for otp_at, status, code in ((now - 60, 200, None),
                                 (now - STEP_UP_SECONDS - 60, 401, "step_up_required"),
                                 (None, 401, "step_up_required"),
                                 ("recently", 401, "step_up_required")):
        claims = {"amr": ["pwd", "otp"]}
        if otp_at is not None:
            claims["otp_at"] = otp_at
        token = SIGNER.issue("o", "operator", [], **claims)
        answer = c.post("/grave", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == status, otp_at
        if code:
            assert answer.json["error"]["code"] == code
    password_only = SIGNER.issue("o", "operator", [], amr=["pwd"], otp_at=now)
    answer = c.post("/grave", headers={"Authorization": f"Bearer {password_only}"})
    assert answer.json["error"]["code"] == "second_factor_required"
