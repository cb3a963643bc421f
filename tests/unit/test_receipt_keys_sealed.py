"""Every service's receipt signing keys rest in its database only sealed (issue 30): a
reader of any service's database, or of a backup, finds no private key to sign a receipt
with. Keys stored in clear before are sealed at start, and a process whose secret does
not open the stored keys stops at start rather than sign apart."""
from __future__ import annotations

import importlib
import os
import stat
from dataclasses import replace

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.config import SERVICES, Settings
from shared.db import utcnow
from shared.receipts import jws, keys_from_jwks
from shared.receipts.keys import kid_for
from shared.sealing import SealingError, is_sealed
from shared.service import ServiceRuntime


def spec_of(service):
    return importlib.import_module(f"services.{service}.app").SPEC


def started(service, data_dir, **over) -> ServiceRuntime:
    settings = replace(Settings.from_env({"PP_DATA_DIR": str(data_dir)}), **over)
    rt = ServiceRuntime(spec_of(service), settings)
    rt.start()
    return rt


def rows(rt):
    with rt.engine.connect() as conn:
        return conn.execute(sa.text("SELECT kid, private_key FROM receipt_keys")).all()


def forms(key: Ed25519PrivateKey) -> list[str]:
    """What a reader would look for: the PEM's body, the raw key, in hex and base64."""
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    body = "".join(pem.splitlines()[1:-1])
    return [body, raw.hex(), jws.b64encode(raw)]


@pytest.mark.parametrize("service", SERVICES)
def test_every_services_receipt_keys_rest_sealed(service, tmp_path):
    rt = started(service, tmp_path)
    try:
        keys = rt.receipt_keys
        assert keys is not None, f"{service} has no receipt keys"
        with rt.engine.begin() as conn:
            keys.rotate(conn)  # a retired key and the signing one
            token = keys.sign(conn, {"x": 1})
            published = keys.jwks(conn)["keys"]
        stored = rows(rt)
        assert len(stored) == 2 and len(published) == 2
        for row in stored:
            assert is_sealed(row.private_key)
            assert "PRIVATE KEY" not in row.private_key
            for form in forms(keys._key(row)):
                assert form not in row.private_key
        header, _ = jws.verify(token, keys_from_jwks({"keys": published}))
        assert header["kid"].startswith(f"{service}:")
        secret = tmp_path / "keys" / f"receipt-secret-{service}"
        if service == "identity":  # sealed by identity's own secret
            assert not secret.exists()
        else:
            assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    finally:
        rt.engine.dispose()


@pytest.mark.parametrize("service", ("identity", "ingest", "dsar"))
def test_a_key_stored_in_clear_is_sealed_at_start_and_still_signs(service, tmp_path):
    rt = started(service, tmp_path)
    old = Ed25519PrivateKey.generate()
    kid = kid_for(service, old)
    pem = old.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    table = rt.spec.tables.receipt_keys
    with rt.engine.begin() as conn:  # as the first receipts release stored it
        conn.execute(table.update().values(retired_at=utcnow()))
        conn.execute(table.insert().values(kid=kid, private_key=pem, created_at=utcnow(),
                                           retired_at=None))
    rt.engine.dispose()

    again = started(service, tmp_path)
    try:
        (sealed,) = [r.private_key for r in rows(again) if r.kid == kid]
        assert is_sealed(sealed) and "PRIVATE KEY" not in sealed
        assert "".join(pem.splitlines()[1:-1]) not in sealed
        with again.engine.begin() as conn:
            token = again.receipt_keys.sign(conn, {"x": 1})
        assert jws.unverified(token)[0]["kid"] == kid  # the same key signs on
        jws.verify(token, {kid: old.public_key()})
    finally:
        again.engine.dispose()


def test_a_process_with_another_receipt_secret_or_none_stops_at_start(tmp_path):
    rt = started("ingest", tmp_path)
    rt.engine.dispose()
    other = tmp_path / "other-secret"
    other.write_bytes(b"another deployment's receipt secret, long enough\n")
    with pytest.raises(SealingError, match="PP_RECEIPT_SECRET_FILE"):
        started("ingest", tmp_path, receipt_secret_file=str(other))
    with pytest.raises(SealingError, match="does not exist"):
        started("ingest", tmp_path, receipt_secret_file=str(tmp_path / "missing"))
    same = started("ingest", tmp_path, receipt_secret_file=str(
        tmp_path / "keys" / "receipt-secret-ingest"))
    same.engine.dispose()


def test_identity_seals_its_receipt_keys_with_its_own_secret(tmp_path):
    rt = started("identity", tmp_path)
    rt.engine.dispose()
    other = tmp_path / "other-secret"
    other.write_bytes(b"another deployment's identity secret, long enough\n")
    with pytest.raises(SealingError):
        started("identity", tmp_path, identity_secret_file=str(other))
    # the receipt secret setting is not identity's
    started("identity", tmp_path, receipt_secret_file=str(other)).engine.dispose()


def test_the_rotate_command_with_another_secret_seals_nothing(tmp_path, monkeypatch):
    """`python -m shared.receipts rotate` run without the service's secret (another data
    folder: a new secret made there) stops before adding a key no process could open."""
    from shared.receipts.__main__ import main as receipts_cli
    rt = started("linking", tmp_path)
    url = rt.settings.database_url("linking")
    rt.engine.dispose()
    monkeypatch.setenv("PP_LINKING_DATABASE_URL", url)
    monkeypatch.setenv("PP_DATA_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(SealingError):
        receipts_cli(["rotate", "linking"])
    monkeypatch.setenv("PP_DATA_DIR", str(tmp_path))
    assert receipts_cli(["rotate", "linking"]) == 0
    again = started("linking", tmp_path)  # every key opens with the service's secret
    try:
        assert len(rows(again)) == 2
    finally:
        again.engine.dispose()
