"""Compact JWS (RFC 7515) with EdDSA over Ed25519 (RFC 8037), strict on the way in.

Any JOSE library verifies what `sign` makes. `verify` refuses anything but the canonical
base64url of each part (no padding, no stray bits, no whitespace), so a receipt changed by
a single byte never verifies, even where a lenient decoder would read the same bytes."""
from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                                Ed25519PublicKey)

ALGORITHM = "EdDSA"
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


class InvalidJws(ValueError):
    """Not a well-formed, correctly signed compact JWS under a known key."""


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Canonical base64url only: the decoded bytes must encode back to exactly `text`."""
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise InvalidJws("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidJws("not base64url") from None
    if b64encode(data) != text:
        raise InvalidJws("not canonical base64url")
    return data


def canonical_json(value: Any) -> bytes:
    """One byte form per value: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def sign(key: Ed25519PrivateKey, kid: str, payload: Mapping[str, Any], typ: str) -> str:
    header = {"alg": ALGORITHM, "kid": kid, "typ": typ}
    signing_input = f"{b64encode(canonical_json(header))}.{b64encode(canonical_json(payload))}"
    return f"{signing_input}.{b64encode(key.sign(signing_input.encode('ascii')))}"


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload, read without checking the signature (to pick the key)."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise InvalidJws("not a compact JWS (three dot-separated parts)")
    try:
        header = json.loads(b64decode(parts[0]))
        payload = json.loads(b64decode(parts[1]))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidJws(str(exc) if isinstance(exc, InvalidJws) else "not JSON") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise InvalidJws("header and payload must be JSON objects")
    return header, payload


def verify(token: str, keys: Mapping[str, Ed25519PublicKey],
           typ: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a JWS signed by one of `keys` (by kid); else InvalidJws."""
    header, payload = unverified(token)
    if header.get("alg") != ALGORITHM:
        raise InvalidJws("only EdDSA is accepted")
    if typ is not None and header.get("typ") != typ:
        raise InvalidJws(f"not a {typ}")
    key = keys.get(str(header.get("kid")))
    if key is None:
        raise InvalidJws(f"signed by an unknown key (kid {header.get('kid')!r})")
    signing_input, _, signature = token.rpartition(".")
    try:
        key.verify(b64decode(signature), signing_input.encode("ascii"))
    except InvalidSignature:
        raise InvalidJws("signature does not verify") from None
    return header, payload


def public_jwk(key: Ed25519PublicKey, kid: str) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64encode(raw), "kid": kid,
            "alg": ALGORITHM, "use": "sig"}


def keys_from_jwks(jwks: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 keys of a JWKS, by kid (others ignored). Whose keys they are is the
    caller's to know: to verify what a service signed, use `service_keys`."""
    keys = {}
    for jwk in jwks.get("keys", []) if isinstance(jwks, Mapping) else []:
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "OKP" \
                or jwk.get("crv") != "Ed25519" or not jwk.get("kid"):
            continue
        raw = b64decode(str(jwk.get("x", "")))
        if len(raw) != 32:
            continue
        keys[str(jwk["kid"])] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


def service_keys(jwks: Mapping[str, Any],
                 service: str | None = None) -> tuple[str, dict[str, Ed25519PublicKey]]:
    """One service's own key set: (the service, its keys by kid). The service is the one
    the caller got the JWKS from (`service`), else the one the document names (its
    `service` member, as GET /receipt-keys/<service> serves it); the two must agree. Every
    key's id must name that service: a key set holding another service's kid is refused,
    so a key published by one service never speaks for another (InvalidJws)."""
    named = jwks.get("service") if isinstance(jwks, Mapping) else None
    if service is None:
        if not isinstance(named, str) or not named:
            raise InvalidJws("the key set does not say whose it is (give it as "
                             "SERVICE=FILE)")
        service = named
    elif named is not None and named != service:
        raise InvalidJws(f"the key set given as {service}'s names {named} as its service")
    keys = keys_from_jwks(jwks)
    strangers = sorted(kid for kid in keys if kid.partition(":")[0] != service)
    if strangers:
        raise InvalidJws(f"{service}'s key set holds keys of another service: {strangers}")
    return service, keys
