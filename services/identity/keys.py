"""Token signing keys, kept in identity's database so every identity process signs with
the same key and a rotation reaches them all; sealed there with identity's secret
(secret.py), which never rests in the database, so a reader of the database or a backup
cannot sign tokens.

The newest key signs. A rotated-out key stays in the JWKS for the overlap window
(`PP_JWT_KEY_OVERLAP_SECONDS`, at least the access-token lifetime), so tokens it signed
keep verifying until they expire; after that, verifiers that refresh the JWKS drop it.

    python -m services.identity.keys rotate     (ops: start signing with a new key)
"""
from __future__ import annotations

import datetime as dt
import sys
import threading
import time
import zlib
from typing import Callable

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                                Ed25519PublicKey)

from shared.auth import (TokenSigner, TokenVerifier, key_id, load_or_create_private_key,
                         public_jwk)
from shared.config import Settings
from shared.db import utcnow
from shared.sealing import clear_to_seal

from .models import signing_keys
from .secret import IdentitySecret


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class KeyRing:
    def __init__(self, engine: sa.Engine, settings: Settings, secret: IdentitySecret,
                 clock: Callable[[], dt.datetime] = utcnow, cache_seconds: float = 5.0):
        self.engine = engine
        self.settings = settings
        self.secret = secret
        self.clock = clock
        self.overlap = dt.timedelta(seconds=max(settings.key_overlap_seconds,
                                                settings.access_token_seconds))
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, list] | None = None
        self._parsed: dict[str, Ed25519PrivateKey] = {}
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """The first start adopts the configured (or embedded) key, so verifiers that read
        the key file keep working. Keys stored before they were sealed (identity
        migration 0008) are sealed here (only when none is sealed yet: shared/sealing.py
        clear_to_seal refuses a key planted in clear beside sealed ones), and every key is
        checked to open with this process's secret: a process configured with another
        secret stops at start."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # processes starting together: one adopts
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"),
                             {"k": zlib.crc32(b"identity:signing-keys") & 0x7FFFFFFF})
            rows = conn.execute(sa.select(signing_keys.c.kid,
                                          signing_keys.c.sealed_private_key)).all()
            stored = dict(rows)
            for kid in clear_to_seal(self.secret, stored.items(), "token signing key"):
                conn.execute(signing_keys.update().where(signing_keys.c.kid == kid)
                             .values(sealed_private_key=self.secret.seal(
                                 stored[kid].encode(), kid)))
            if rows:
                return
            key = load_or_create_private_key(self.settings)
            try:
                with conn.begin_nested():
                    conn.execute(signing_keys.insert().values(
                        kid=key_id(key.public_key()), **self._sealed(key),
                        created_at=self.clock(), retired_at=None))
            except sa.exc.IntegrityError:
                pass  # another process adopted it first

    def _sealed(self, key: Ed25519PrivateKey) -> dict:
        return {"sealed_private_key": self.secret.seal(_pem(key), key_id(key.public_key()))}

    def rotate(self) -> str:
        key = Ed25519PrivateKey.generate()
        kid = key_id(key.public_key())
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(signing_keys.update().where(signing_keys.c.retired_at.is_(None))
                         .values(retired_at=now))
            conn.execute(signing_keys.insert().values(kid=kid, **self._sealed(key),
                                                      created_at=now, retired_at=None))
        self._cached = None
        return kid

    def _rows(self, conn: sa.Connection | None = None) -> list:
        """The keys, cached briefly; `conn` reads them inside the caller's transaction
        (on SQLite a second connection would wait for that transaction's lock)."""
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < self._cache_seconds:
                return self._cached[1]
            query = sa.select(signing_keys).order_by(signing_keys.c.created_at.desc())
            if conn is not None:
                rows = conn.execute(query).all()
            else:
                with self.engine.connect() as own:
                    rows = own.execute(query).all()
            self._cached = (time.monotonic(), rows)
            return rows

    def signer(self, conn: sa.Connection | None = None) -> TokenSigner:
        active = [r for r in self._rows(conn) if r.retired_at is None]
        if not active:
            raise RuntimeError("no active signing key: run the identity migrations/start-up")
        return TokenSigner(self._key(active[0]), self.settings.access_token_seconds,
                           clock=lambda: self.clock().timestamp())

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """The keys tokens may be verified with: the active one and those still inside
        their overlap window."""
        now = self.clock()
        keys = {}
        for row in self._rows():
            if row.retired_at is not None and row.retired_at + self.overlap <= now:
                continue  # past its overlap: tokens it signed have expired
            keys[row.kid] = self._key(row).public_key()
        return keys

    def _key(self, row) -> Ed25519PrivateKey:
        """Each key parsed once (a kid never changes its key), not on every sign-in."""
        key = self._parsed.get(row.kid)
        if key is None:
            key = self._parsed[row.kid] = serialization.load_pem_private_key(
                self.secret.unseal(row.sealed_private_key, row.kid), password=None)
        return key

    def jwks(self) -> dict:
        return {"keys": [public_jwk(key) for key in self.public_keys().values()]}

    def verifier(self, refresh_seconds: float = 30) -> TokenVerifier:
        return TokenVerifier(self.public_keys, refresh_seconds=refresh_seconds)


def main(argv: list[str]) -> int:
    from shared.db import make_engine
    if argv[1:] != ["rotate"]:
        print(__doc__)
        return 2
    settings = Settings.from_env()
    ring = KeyRing(make_engine(settings.database_url("identity")), settings,
                   IdentitySecret.load(settings))
    ring.ensure()
    print(f"signing with key {ring.rotate()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
