"""Identity's deployment secret: a key that lives in configuration, never in its database.

A reader of identity's database, or of a backup of it, must learn neither the client
addresses the sign-in limits count (an unkeyed SHA-256 of an IPv4 address is undone by
trying all 2^32 of them, in minutes) nor the token signing keys (with one, anyone signs a
token for any role). Both are therefore keyed by a secret kept beside the configuration:
addresses are hashed with HMAC-SHA256, private keys sealed with AES-256-GCM, each under a
key of its own derived from the secret (HKDF-SHA256, one label per use, so neither use
weakens the other).

`PP_IDENTITY_SECRET_FILE` names a file of at least 32 random bytes that every identity
process of the deployment reads (Kubernetes: the `pp-identity-secret` Secret). A file named
there must exist: a process that made its own would seal what no other process can open.
Unset, the file is `PP_DATA_DIR/keys/identity-secret`, made on first use (embedded mode;
the local stack and compose, whose identity processes share that folder).
"""
from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.config import Settings

MIN_SECRET_BYTES = 32
SEALED_PREFIX = "sealed:1:"  # version 1: AES-256-GCM, 96-bit nonce, the context as AAD


class SecretError(RuntimeError):
    """The secret is missing or unusable, or a sealed value does not open with it."""


def secret_path(settings: Settings) -> Path:
    if settings.identity_secret_file:
        return Path(settings.identity_secret_file)
    return settings.data_dir / "keys" / "identity-secret"


class IdentitySecret:
    def __init__(self, material: bytes):
        if len(material) < MIN_SECRET_BYTES:
            raise SecretError(f"the identity secret needs at least {MIN_SECRET_BYTES} bytes")
        self.address_key = _derive(material, b"pupil-progress identity: client addresses")
        self._sealing = AESGCM(_derive(material, b"pupil-progress identity: sealed keys"))

    @classmethod
    def load(cls, settings: Settings) -> "IdentitySecret":
        """The deployment's secret: the file PP_IDENTITY_SECRET_FILE names (which must
        exist), else the data folder's, made on first use."""
        path = secret_path(settings)
        if not path.exists():
            if settings.identity_secret_file:
                raise SecretError(f"PP_IDENTITY_SECRET_FILE {path} does not exist")
            _create(path)
        return cls(path.read_bytes().strip())

    def seal(self, plaintext: bytes, context: str) -> str:
        """`plaintext` encrypted and authenticated, bound to `context` (a key's id), so a
        sealed value moved to another row does not open."""
        nonce = secrets.token_bytes(12)
        sealed = self._sealing.encrypt(nonce, plaintext, context.encode())
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def unseal(self, value: str, context: str) -> bytes:
        if not is_sealed(value):
            raise SecretError("not a sealed value")
        raw = base64.urlsafe_b64decode(value[len(SEALED_PREFIX):])
        try:
            return self._sealing.decrypt(raw[:12], raw[12:], context.encode())
        except InvalidTag:
            raise SecretError("a sealed value does not open with this identity secret "
                              "(PP_IDENTITY_SECRET_FILE differs between processes?)") from None


def is_sealed(value: str) -> bool:
    return value.startswith(SEALED_PREFIX)


def _derive(material: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(material)


def _create(path: Path) -> None:
    """A new random secret, written whole before it appears under its name: processes
    starting together each write their own and link it into place, and the first wins."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.b64encode(secrets.token_bytes(48)) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process was first: its secret is the deployment's
    finally:
        draft.unlink(missing_ok=True)
