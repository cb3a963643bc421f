"""Values sealed at rest by a deployment secret that never rests beside them.

A private key kept in a service's database (identity's token keys, every service's
receipt keys) is sealed with AES-256-GCM under a key derived from a secret of the
configuration (HKDF-SHA256, one label per use, so no use weakens another), the row's key
id as associated data, so a sealed value copied into another row does not open. A reader
of the database, or of a backup of it, holds no key it could sign with.

A secret is a file of at least 32 random bytes. One named in the configuration must
exist: a process that made its own would seal what no other process of the deployment
can open. Unnamed, it is a file of the data folder, made on first use (embedded mode, the
local stack, compose: the processes of one service share that folder).
"""
from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Any, Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MIN_SECRET_BYTES = 32
SEALED_PREFIX = "sealed:1:"  # version 1: AES-256-GCM, 96-bit nonce, the context as AAD
NONCE_BYTES = 12


class SealingError(RuntimeError):
    """A secret is missing or unusable, or a sealed value does not open with it."""


def derive(material: bytes, label: bytes) -> bytes:
    """A 256-bit key of its own for one use of the secret."""
    if len(material) < MIN_SECRET_BYTES:
        raise SealingError(f"a deployment secret needs at least {MIN_SECRET_BYTES} bytes")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(material)


class Sealer:
    """Seals and opens values under one key derived from a secret. `source` names where
    the secret comes from, for the error a process with another secret stops with."""

    def __init__(self, material: bytes, label: bytes, source: str):
        self._aead = AESGCM(derive(material, label))
        self.source = source

    def seal(self, plaintext: bytes, context: str) -> str:
        """`plaintext` encrypted and authenticated, bound to `context` (a key's id)."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, context.encode())
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def unseal(self, value: str, context: str) -> bytes:
        if not is_sealed(value):
            raise SealingError("not a sealed value")
        raw = base64.urlsafe_b64decode(value[len(SEALED_PREFIX):])
        try:
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except InvalidTag:
            raise SealingError(f"a sealed value does not open with {self.source} (does "
                               "the secret differ between processes?)") from None


def is_sealed(value: str) -> bool:
    return value.startswith(SEALED_PREFIX)


def clear_to_seal(sealer: Sealer | Any, stored: Iterable[tuple[str, str]],
                  what: str) -> list[str]:
    """Of the (key id, stored value) rows of a table of sealed keys, the ids of those in
    clear, to be sealed now: the keys of a release before sealing, adopted all at once.
    Every sealed one must open (SealingError otherwise). A key in clear beside sealed
    ones was not written by a process holding the secret (one would have sealed it):
    anyone who can write the database (or a backup restored) could plant a key they
    know and have it sign; it is refused (SealingError), never adopted."""
    stored = list(stored)
    clear = [kid for kid, value in stored if not is_sealed(value)]
    sealed = [(kid, value) for kid, value in stored if is_sealed(value)]
    for kid, value in sealed:
        sealer.unseal(value, kid)
    if clear and sealed:
        raise SealingError(f"{what} {', '.join(clear)} stored in clear beside sealed keys: "
                           "not written by a process holding the secret, so not adopted; "
                           "remove it (docs/operations.md, Receipt secrets)")
    return clear


def read_secret(path: Path, *, named: bool, setting: str) -> bytes:
    """The secret in `path`. A path the configuration names (`named`, by `setting`) must
    exist; the data folder's default is made on first use."""
    if not path.exists():
        if named:
            raise SealingError(f"{setting} {path} does not exist")
        _create(path)
    material = path.read_bytes().strip()
    if len(material) < MIN_SECRET_BYTES:
        raise SealingError(f"{setting} {path}: a secret needs at least "
                           f"{MIN_SECRET_BYTES} bytes")
    return material


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
