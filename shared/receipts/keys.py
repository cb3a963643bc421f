"""Each service's receipt signing keys: Ed25519, kept in the service's own database so every
process of the service signs with the same key and a rotation reaches them all.

As with identity's token keys (services/identity/keys.py), the newest key signs and
`rotate` starts a new one. Unlike a token, a receipt is kept for years: a rotated-out key
stops signing but stays published in the service's JWKS for good, so every receipt it
signed keeps verifying. A key's id names its service (`<service>:<fingerprint>`), so a
verifier knows which service a signature speaks for.

A private key rests in the database only sealed (shared/sealing.py) by a secret of the
configuration: identity's own secret for identity, for every other service the file
`PP_RECEIPT_SECRET_FILE` names (Kubernetes: its key of the `pp-receipt-secrets` Secret),
else `PP_DATA_DIR/keys/receipt-secret-<service>`, made on first use. `ensure`, at start,
seals a key stored in clear before (the first receipts release) and stops a process
whose secret does not open the stored keys.

    python -m shared.receipts rotate SERVICE   (ops: start signing with a new key)
"""
from __future__ import annotations

import datetime as dt
import hashlib
import threading
import zlib
from typing import Any, Callable, Mapping

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.db import UtcDateTime, utcnow
from shared.sealing import Sealer, SealingError, clear_to_seal, is_sealed

from . import jws

ANSWER_TYPE = "pp-rights-answer+jws"  # the JWS `typ` of one service's signed answer
SEALING_LABEL = b"pupil-progress receipts: sealed keys"


def receipt_sealer(material: bytes, source: str) -> Sealer:
    """What seals a service's receipt keys, from its secret's bytes."""
    return Sealer(material, SEALING_LABEL, source)


def define_receipt_keys(metadata: sa.MetaData) -> sa.Table:
    """The plumbing table every service has from its receipts migration on."""
    return sa.Table(
        "receipt_keys", metadata,
        sa.Column("kid", sa.String(80), primary_key=True),
        sa.Column("private_key", sa.Text, nullable=False),  # PKCS#8 PEM, sealed
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("retired_at", UtcDateTime, nullable=True),
    )


def create_receipt_keys(bind: sa.Engine | sa.Connection) -> None:
    """For every service's receipts migration."""
    metadata = sa.MetaData()
    define_receipt_keys(metadata)
    metadata.create_all(bind)


def drop_receipt_keys(bind: sa.Engine | sa.Connection) -> None:
    metadata = sa.MetaData()
    define_receipt_keys(metadata)
    metadata.drop_all(bind)


def kid_for(service: str, key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return f"{service}:{hashlib.sha256(raw).hexdigest()[:16]}"


def _dialect(conn: Any) -> str:
    bind = conn if isinstance(conn, sa.Connection) else conn.get_bind()
    return str(bind.dialect.name)


def service_of(kid: str) -> str:
    return kid.partition(":")[0]


class ReceiptKeys:
    """One service's keys, read through the caller's connection or session (a handler signs
    inside its own transaction)."""

    def __init__(self, service: str, table: sa.Table, sealer: Sealer,
                 clock: Callable[[], dt.datetime] = utcnow):
        self.service = service
        self.table = table
        self.sealer = sealer
        self.clock = clock
        self._parsed: dict[str, Ed25519PrivateKey] = {}
        self._lock = threading.Lock()

    def ensure(self, conn: sa.Connection | Any) -> str:
        """The signing key's id, made on first use (processes starting together: one makes
        it, on PostgreSQL; on SQLite writers are serialised anyway). Keys stored in clear
        are sealed here (only when no key is sealed yet: one in clear beside sealed ones was
        planted, shared/sealing.py clear_to_seal), and every stored key must open with this
        process's secret: one configured with another stops (SealingError) rather than
        sign apart."""
        if _dialect(conn) == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {
                "k": zlib.crc32(f"{self.service}:receipt-keys".encode()) & 0x7FFFFFFF})
        self._seal_and_check(conn)
        active = self._active(conn)
        if active is not None:
            return str(active.kid)
        return self._insert(conn)

    def _seal_and_check(self, conn: Any) -> None:
        stored = dict(conn.execute(sa.select(self.table.c.kid,
                                             self.table.c.private_key)).all())
        for kid in clear_to_seal(self.sealer, stored.items(),
                                 f"{self.service}'s receipt key"):
            conn.execute(self.table.update().where(self.table.c.kid == kid).values(
                private_key=self.sealer.seal(stored[kid].encode("ascii"), kid)))

    def rotate(self, conn: sa.Connection | Any) -> str:
        """A new key signs from now on; the old ones stay published. Only with the
        service's own secret (the command run with another configuration stops here)."""
        self._seal_and_check(conn)
        conn.execute(self.table.update().where(self.table.c.retired_at.is_(None))
                     .values(retired_at=self.clock()))
        return self._insert(conn)

    def _insert(self, conn: Any) -> str:
        key = Ed25519PrivateKey.generate()
        kid = kid_for(self.service, key)
        pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
        conn.execute(self.table.insert().values(kid=kid, private_key=self.sealer.seal(
                                                    pem.encode("ascii"), kid),
                                                created_at=self.clock(), retired_at=None))
        return kid

    def _active(self, conn: Any) -> Any:
        return conn.execute(sa.select(self.table).where(self.table.c.retired_at.is_(None))
                            .order_by(self.table.c.created_at.desc()).limit(1)).first()

    def _key(self, row: Any) -> Ed25519PrivateKey:
        with self._lock:
            key = self._parsed.get(row.kid)
            if key is None:
                if not is_sealed(row.private_key):  # only ever sealed: ensure() saw to it
                    raise SealingError(f"receipt key {row.kid} is not sealed")
                loaded = serialization.load_pem_private_key(
                    self.sealer.unseal(row.private_key, row.kid), password=None)
                assert isinstance(loaded, Ed25519PrivateKey)
                key = self._parsed[row.kid] = loaded
            return key

    def sign(self, conn: sa.Connection | Any, payload: Mapping[str, Any],
             typ: str = ANSWER_TYPE) -> str:
        """`payload` as a compact JWS under the newest key (made if there is none)."""
        row = self._active(conn)
        if row is None:
            self.ensure(conn)
            row = self._active(conn)
        return jws.sign(self._key(row), str(row.kid), payload, typ)

    def jwks(self, conn: sa.Connection | Any) -> dict[str, Any]:
        """Every public key the service ever signed receipts with, newest first, and whose
        they are (`service`: a verifier binds the set to that service, jws.service_keys)."""
        rows = conn.execute(sa.select(self.table).order_by(
            self.table.c.created_at.desc())).all()
        return {"service": self.service,
                "keys": [jws.public_jwk(self._key(r).public_key(), str(r.kid))
                         for r in rows]}
