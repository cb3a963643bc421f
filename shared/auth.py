"""Tokens: identity signs (EdDSA, Ed25519), every service verifies for itself.

Embedded mode generates the key into PP_DATA_DIR; production names a private key file
(identity) and a public key file or JWKS URL (everyone else).
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import threading
import time
import urllib.request
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Callable, TypeVar, cast

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                                Ed25519PublicKey)

from shared.config import Settings
from shared.errors import ApiError, NotFound, StepUpRequired, Unauthenticated
from shared.revocations import RevocationsUnavailable, RevocationView

ISSUER = "pupil-progress"
AUDIENCE = "pupil-progress-api"
ALGORITHM = "EdDSA"
ROLES = ("operator", "school_admin", "parent", "student", "school_system")
# Roles that reach people's data or the platform's: their tokens must show a second factor
# (`amr` with "otp", RFC 8176) on every endpoint but those that pass one (issue 25).
STAFF_ROLES = ("operator", "school_admin")
# The gravest actions (approving an erasure, issuing or revoking client credentials,
# offboarding a school, unlocking a link) want the second factor passed this recently.
STEP_UP_SECONDS = 15 * 60


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw_public(key)).hexdigest()[:16]


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64(_raw_public(key)),
            "kid": key_id(key), "alg": ALGORITHM, "use": "sig"}


def embedded_key_path(settings: Settings) -> Path:
    return settings.data_dir / "keys" / "token-signing.pem"


def load_or_create_private_key(settings: Settings) -> Ed25519PrivateKey:
    path = (Path(settings.jwt_private_key_file) if settings.jwt_private_key_file
            else embedded_key_path(settings))
    if not path.exists():
        if settings.jwt_private_key_file:
            raise FileNotFoundError(f"PP_JWT_PRIVATE_KEY_FILE {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process won the race: use its key
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("token signing key must be Ed25519")
    return key


@dataclass(frozen=True)
class Principal:
    account_id: str
    role: str
    school_ids: tuple[str, ...]
    claims: dict[str, Any] = field(default_factory=dict, compare=False)

    def in_school(self, school_id: str) -> bool:
        return school_id in self.school_ids

    def acting_school(self, school_id: str | None = None) -> str:
        """The school a staff or school-system caller acts for: the one named (404 if not
        theirs), else their only one (422 for an admin of several, who must say)."""
        if school_id is None:
            if len(self.school_ids) != 1:
                raise ApiError(422, "validation_failed", "Say which school.",
                               {"school_id": ["Required for an admin of several schools."]})
            return self.school_ids[0]
        if not self.in_school(school_id):
            raise NotFound()
        return school_id


class TokenSigner:
    def __init__(self, private_key: Ed25519PrivateKey, lifetime_seconds: int = 900,
                 clock: Callable[[], float] = time.time):
        self.key = private_key
        self.kid = key_id(private_key.public_key())
        self.lifetime = lifetime_seconds
        self.clock = clock

    def issue(self, account_id: str, role: str, school_ids: list[str] | tuple[str, ...],
              **extra: Any) -> str:
        """`extra` claims: `sid`, the sign-in (refresh-token family) an account's token
        belongs to, so that signing out revokes that sign-in's tokens only."""
        issued = self.clock()
        now = int(issued)
        # `iat` to the microsecond (a JWT NumericDate may be fractional): a revocation
        # names the instant before which tokens are dead, and a sign-in in the same
        # second, after a password reset, must not be.
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": account_id, "role": role,
                  "school_ids": list(school_ids), "iat": round(issued, 6), "nbf": now,
                  "exp": now + self.lifetime, "jti": str(uuid.uuid4()), **extra}
        return jwt.encode(claims, self.key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.key.public_key())]}


class InvalidToken(Exception):
    pass


class TokenVerifier:
    """Checks signature (EdDSA only), issuer, audience, expiry and the claims we rely on.

    A token that passed is remembered, by its exact text, in a small LRU until it expires:
    a token cannot change, so only the clock can invalidate it, and `exp` is checked again
    on every hit. Any other text (a tampered token) is a miss and fully verified. The
    remembered tokens are forgotten whenever the keys are reloaded (`refresh_seconds`, or
    `refresh()`), so a key withdrawn from the JWKS stops its tokens as it does uncached.
    """

    def __init__(self, keys_loader: Callable[[], dict[str, Ed25519PublicKey]],
                 refresh_seconds: float = 300, leeway: int = 5, cache_size: int = 2048):
        self._load = keys_loader
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._loaded_at = 0.0
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self.leeway = leeway
        # token -> (principal, exp); oldest use first. Guarded by _lock, as is the count
        # of key reloads (a token verified across a reload is not remembered).
        self._verified: OrderedDict[str, tuple[Principal, int]] = OrderedDict()
        self._cache_size = cache_size
        self._reloads = 0

    def refresh(self) -> None:
        """Reload the keys at the next verification (as the periodic refresh would)."""
        with self._lock:
            self._loaded_at = 0.0
            self._forget()

    def _key(self, kid: str | None) -> Ed25519PublicKey:
        with self._lock:
            stale = time.monotonic() - self._loaded_at > self._refresh
            if stale or (kid not in self._keys):
                if stale or time.monotonic() - self._loaded_at > 5:  # bound refetching
                    self._loaded_at = time.monotonic()  # also on failure: no refetch storm
                    try:
                        self._keys = self._load()
                        self._forget()  # verified with keys that may be gone now
                    except Exception as exc:
                        if not self._keys:
                            raise InvalidToken("signing keys unavailable") from exc
            if kid is None and len(self._keys) == 1:
                return next(iter(self._keys.values()))
            if kid not in self._keys:
                raise InvalidToken("unknown signing key")
            return self._keys[kid]

    def _forget(self) -> None:  # with _lock held
        self._verified.clear()
        self._reloads += 1

    def verify(self, token: str) -> Principal:
        principal, reloads = self._remembered(token)
        if principal is None:
            principal = self._verify(token)
            with self._lock:
                if reloads == self._reloads:
                    self._verified[token] = (principal, int(principal.claims["exp"]))
                    if len(self._verified) > self._cache_size:
                        self._verified.popitem(last=False)
        return principal

    def _remembered(self, token: str) -> tuple[Principal | None, int]:
        """The principal of this exact token if it passed before and has not expired since
        (as pyjwt judges `exp`, with the same leeway) while the keys are fresh; and the
        count of key reloads so far."""
        with self._lock:
            entry = self._verified.get(token)
            if entry is None:
                return None, self._reloads
            principal, exp = entry
            if (exp <= time.time() - self.leeway
                    or time.monotonic() - self._loaded_at > self._refresh):
                del self._verified[token]  # verified afresh: refused, or keys reloaded
                return None, self._reloads
            self._verified.move_to_end(token)
            return principal, self._reloads

    def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ALGORITHM:
                raise InvalidToken("wrong algorithm")
            claims = jwt.decode(token, self._key(header.get("kid")), algorithms=[ALGORITHM],
                                audience=AUDIENCE, issuer=ISSUER, leeway=self.leeway,
                                options={"require": ["exp", "iat", "sub", "aud", "iss"]})
        except InvalidToken:
            raise
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from None
        role = claims.get("role")
        schools = claims.get("school_ids", [])
        if role not in ROLES or not isinstance(schools, list):
            raise InvalidToken("bad claims")
        return Principal(str(claims["sub"]), role, tuple(str(s) for s in schools), claims)


def _jwk_to_key(jwk: dict[str, str]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValueError("not an Ed25519 key")
    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    return Ed25519PublicKey.from_public_bytes(raw)


def verifier_from_settings(settings: Settings) -> TokenVerifier:
    if settings.jwt_public_key_file:
        return TokenVerifier(_pem_keys(Path(settings.jwt_public_key_file)))
    if settings.jwks_url:
        return TokenVerifier(_jwks_keys(settings.jwks_url))

    def own_key() -> dict[str, Ed25519PublicKey]:
        key = load_or_create_private_key(settings).public_key()
        return {key_id(key): key}
    return TokenVerifier(own_key)


def _pem_keys(path: Path) -> Callable[[], dict[str, Ed25519PublicKey]]:
    def load() -> dict[str, Ed25519PublicKey]:
        key = serialization.load_pem_public_key(path.read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the token public key is not an Ed25519 key")
        return {key_id(key): key}
    return load


def _jwks_keys(url: str) -> Callable[[], dict[str, Ed25519PublicKey]]:
    def load() -> dict[str, Ed25519PublicKey]:
        with urllib.request.urlopen(url, timeout=5) as response:
            document = json.load(response)
        keys = [_jwk_to_key(k) for k in document.get("keys", [])]
        return {key_id(k): k for k in keys}
    return load


# --- Flask side --------------------------------------------------------------------
def current_principal() -> Principal:
    from flask import g
    principal: Principal = g.principal
    return principal


View = TypeVar("View", bound=Callable[..., Any])


# The OpenAPI security scheme of every service's document (shared/web.py registers it).
BEARER_SCHEME = "bearer"
BEARER_SCHEME_SPEC = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                      "description": "An access token from identity's POST /api/v1/auth/token"}


def passed_second_factor(principal: Principal) -> bool:
    amr = principal.claims.get("amr")
    # "otp": the password then a code; "hwk" with "user": a passkey whose device verified
    # the person (identity requires it), both factors at once. "mfa" alone says nothing.
    return isinstance(amr, list) and ("otp" in amr or ("hwk" in amr and "user" in amr))


def recent_second_factor(principal: Principal, now: float | None = None) -> bool:
    """The token's sign-in passed the second factor within STEP_UP_SECONDS."""
    otp_at = principal.claims.get("otp_at")
    if not passed_second_factor(principal) or not isinstance(otp_at, (int, float)):
        return False
    return (time.time() if now is None else now) - otp_at <= STEP_UP_SECONDS


def require(*roles: str, second_factor: bool = True,
            step_up: bool = False) -> Callable[[View], View]:
    """Decorator: a valid bearer token with one of these roles, else 401 (never 403). A
    staff or operator token must also have passed the second factor (401
    second_factor_required), except on the endpoints that pass it (`second_factor=False`);
    with `step_up`, within STEP_UP_SECONDS (401 step_up_required: pass it again). The
    operation's OpenAPI entry says so: the bearer scheme, and the roles in `x-roles`."""
    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from flask import g
            principal = _bearer_principal()
            _granted(principal, roles, second_factor=second_factor, step_up=step_up)
            g.principal = principal
            return view(*args, **kwargs)
        # Every such operation answers 401; one for some roles only answers 404 to others.
        _document(wrapper, {"security": [{BEARER_SCHEME: []}],
                            **({"x-roles": list(roles)} if roles else {}),
                            "responses": error_answers(401, *((404,) if roles else ()))})
        return cast(View, wrapper)
    return decorate


def _bearer_principal() -> Principal:
    """The caller of this request, from a valid bearer token not revoked (else 401)."""
    from flask import current_app, request
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("A bearer token is required.")
    try:
        principal: Principal = current_app.extensions["pp_verifier"].verify(token.strip())
    except InvalidToken:
        raise Unauthenticated("The token is not valid.") from None
    if _revoked(current_app.extensions.get("pp_revocations"), principal):
        # Signed out, reset, removed or revoked: refused before its expiry.
        raise Unauthenticated("The token is no longer valid.")
    return principal


def _granted(principal: Principal, roles: tuple[str, ...], *, second_factor: bool,
             step_up: bool) -> None:
    """The caller's role is one of `roles` (else 404, as a missing resource answers) and
    a staff sign-in passed the second factor (recently enough, with `step_up`)."""
    if roles and principal.role not in roles:
        raise NotFound()
    if second_factor and principal.role in STAFF_ROLES and not passed_second_factor(principal):
        raise ApiError(401, "second_factor_required",
                       "Pass the second factor first (POST /api/v1/auth/second-factor).")
    if step_up and not recent_second_factor(principal):
        raise StepUpRequired()


def public(view: View) -> View:
    """Decorator for the OpenAPI document alone: the operation needs no token (sign-in,
    activation, the keys), said explicitly so that no operation is silent on it."""
    _document(view, {"security": []})
    return view


def answers(*statuses: int) -> Callable[[View], View]:
    """Decorator for the OpenAPI document alone: the error statuses the operation answers
    besides those of its kind (`require`: 401, and 404 to other roles; a body: 400 and
    413, shared/web.py; arguments: 422), each with the one error schema."""
    def decorate(view: View) -> View:
        _document(view, {"responses": error_answers(*statuses)})
        return view
    return decorate


def operation(operation_id: str) -> Callable[[View], View]:
    """Decorator for the OpenAPI document alone: the operation's id, where its function's
    name (the default, `operation_id`) would not say what it does."""
    def decorate(view: View) -> View:
        _document(view, {"operationId": operation_id})
        return view
    return decorate


def error_answers(*statuses: int) -> dict[str, str]:
    """Responses by status, each flask-smorest's response component of that status (its
    HTTP phrase, the one error schema)."""
    return {str(status): HTTPStatus(status).name for status in statuses}


def operation_id(name: str) -> str:
    """A view's operationId: its function's name in camelCase (`create_school`:
    createSchool), what a generated client names the call."""
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _document(view: Any, doc: dict[str, Any]) -> None:
    """Add to the view's flask-smorest documentation (what its Blueprint.doc would add),
    with its operationId; a copy, since functools.wraps shares the wrapped view's."""
    apidoc = dict(getattr(view, "_apidoc", {}))
    earlier = apidoc.get("manual_doc", {})
    manual = {**earlier, **doc, "responses": {**earlier.get("responses", {}),
                                              **doc.get("responses", {})}}
    manual.setdefault("operationId", operation_id(view.__name__))
    apidoc["manual_doc"] = manual
    view._apidoc = apidoc


def _revoked(revocations: RevocationView | None, principal: Principal) -> bool:
    if revocations is None:
        return False
    try:
        return revocations.is_revoked(principal.claims)
    except RevocationsUnavailable:
        raise ApiError(503, "unavailable", "Try again in a moment.",
                       headers={"Retry-After": "5"}) from None
