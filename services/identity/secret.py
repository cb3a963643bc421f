"""Identity's deployment secret: a key that lives in configuration, never in its database.

A reader of identity's database, or of a backup of it, must learn neither the client
addresses the sign-in limits count (an unkeyed SHA-256 of an IPv4 address is undone by
trying all 2^32 of them, in minutes) nor the token signing keys (with one, anyone signs a
token for any role). Both are therefore keyed by a secret kept beside the configuration:
addresses are hashed with HMAC-SHA256, private keys sealed with AES-256-GCM, each under a
key of its own derived from the secret (HKDF-SHA256, one label per use, so neither use
weakens the other; shared/sealing.py). Identity's receipt signing keys are sealed by
it too (shared/receipts/keys.py).

`PP_IDENTITY_SECRET_FILE` names a file of at least 32 random bytes that every identity
process of the deployment reads (Kubernetes: the `pp-identity-secret` Secret). A file named
there must exist: a process that made its own would seal what no other process can open.
Unset, the file is `PP_DATA_DIR/keys/identity-secret`, made on first use (embedded mode;
the local stack and compose, whose identity processes share that folder).
"""
from __future__ import annotations

from pathlib import Path

from shared.config import Settings
from shared.receipts.keys import receipt_sealer
from shared.sealing import (MIN_SECRET_BYTES, SEALED_PREFIX, Sealer, SealingError, derive,
                            is_sealed, read_secret)

__all__ = ["MIN_SECRET_BYTES", "SEALED_PREFIX", "IdentitySecret", "SecretError",
           "is_sealed", "secret_path"]

SETTING = "PP_IDENTITY_SECRET_FILE"
SecretError = SealingError  # the secret is missing or unusable, or a value does not open


def secret_path(settings: Settings) -> Path:
    if settings.identity_secret_file:
        return Path(settings.identity_secret_file)
    return settings.data_dir / "keys" / "identity-secret"


class IdentitySecret:
    def __init__(self, material: bytes):
        self.address_key = derive(material, b"pupil-progress identity: client addresses")
        source = f"this identity secret ({SETTING})"
        self._sealing = Sealer(material, b"pupil-progress identity: sealed keys", source)
        # Identity's receipt keys are sealed by the same secret, under a key of their own.
        self.receipt_sealer = receipt_sealer(material, source)

    @classmethod
    def load(cls, settings: Settings) -> "IdentitySecret":
        """The deployment's secret: the file PP_IDENTITY_SECRET_FILE names (which must
        exist), else the data folder's, made on first use."""
        return cls(read_secret(secret_path(settings),
                               named=bool(settings.identity_secret_file), setting=SETTING))

    def seal(self, plaintext: bytes, context: str) -> str:
        """`plaintext` encrypted and authenticated, bound to `context` (a key's id), so a
        sealed value moved to another row does not open."""
        return self._sealing.seal(plaintext, context)

    def unseal(self, value: str, context: str) -> bytes:
        return self._sealing.unseal(value, context)
