"""A software passkey authenticator for unit and integration tests (issue 25): it makes
real ES256 credentials and signs real assertions, as a device would, so identity's
checks (py_webauthn) run on genuine answers. The browser tests use Chromium's own virtual
authenticator instead (DevTools protocol), never this.

    device = SoftAuthenticator(origin="http://localhost:8080")
    credential = device.create(options)        # RegistrationResponseJSON
    assertion = device.get(options)            # AuthenticationResponseJSON
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


@dataclass
class SoftAuthenticator:
    origin: str
    verifies_user: bool = True
    counts: bool = True  # False: the counter stays 0, as some platform authenticators do
    credentials: list[Credential] = field(default_factory=list)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge,
                           "origin": origin or self.origin, "crossOrigin": False}).encode()

    def _flags(self) -> int:
        return UP | (UV if self.verifies_user else 0)

    def create(self, options: dict, origin: str | None = None,
               rp_id: str | None = None) -> dict:
        """navigator.credentials.create(): a new discoverable credential, attestation
        "none"."""
        rp = rp_id or options["rp"]["id"]
        key = ec.generate_private_key(ec.SECP256R1())
        credential = Credential(os.urandom(32), key, rp, unb64url(options["user"]["id"]))
        self.credentials.append(credential)
        numbers = key.public_key().public_numbers()
        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})
        auth_data = (hashlib.sha256(rp.encode()).digest() + bytes([self._flags() | AT])
                     + (0).to_bytes(4, "big") + bytes(16)
                     + len(credential.credential_id).to_bytes(2, "big")
                     + credential.credential_id + cose)
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        cid = b64url(credential.credential_id)
        return {"id": cid, "rawId": cid, "type": "public-key",
                "response": {"clientDataJSON": b64url(client_data),
                             "attestationObject": b64url(attestation),
                             "transports": ["internal"]},
                "clientExtensionResults": {}, "authenticatorAttachment": "platform"}

    def get(self, options: dict, credential: Credential | None = None,
            origin: str | None = None) -> dict:
        """navigator.credentials.get(): an assertion by the (first) credential."""
        credential = credential or self.credentials[0]
        if self.counts:
            credential.sign_count += 1
        auth_data = (hashlib.sha256(credential.rp_id.encode()).digest()
                     + bytes([self._flags()]) + credential.sign_count.to_bytes(4, "big"))
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = credential.key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                        ec.ECDSA(hashes.SHA256()))
        cid = b64url(credential.credential_id)
        return {"id": cid, "rawId": cid, "type": "public-key",
                "response": {"clientDataJSON": b64url(client_data),
                             "authenticatorData": b64url(auth_data),
                             "signature": b64url(signature),
                             "userHandle": b64url(credential.user_handle)},
                "clientExtensionResults": {}, "authenticatorAttachment": "platform"}
