"""What rests in identity's database is keyed by a secret that does not (red team, issue
21): a reader of the database or of a backup turns no stored client address back into
the address (an unkeyed SHA-256 of an IPv4 address falls to hashing all 2^32), and holds
no signing key it could sign a token with. Real PostgreSQL; identity's secret in a file
of the configuration (services/identity/secret.py)."""
from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import replace

import jwt
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.identity.app import SPEC
from services.identity.secret import SecretError
from shared.auth import key_id
from shared.service import ServiceRuntime

pytestmark = pytest.mark.integration

OPERATOR = ("ops@example.org", "operator-secret-1")
GUESSERS = ("203.0.113.7", "2001:db8:5:6::9")


def runtime(settings, tmp_path, url, **over) -> ServiceRuntime:
    rt = ServiceRuntime(SPEC, replace(
        settings, data_dir=tmp_path, database_urls={**settings.database_urls,
                                                    "identity": url},
        bootstrap_operator_email=OPERATOR[0], bootstrap_operator_password=OPERATOR[1],
        **over))
    rt.start()
    return rt


def sign_in(rt, password, peer):
    return rt.create_app().test_client().post("/api/v1/auth/token", json={
        "grant_type": "password", "email": OPERATOR[0], "password": password},
        environ_base={"REMOTE_ADDR": peer})


def every_cell(engine) -> list[str]:
    with engine.connect() as conn:
        return [str(value) for table in sa.inspect(conn).get_table_names()
                for row in conn.execute(sa.text(f'SELECT * FROM "{table}"'))
                for value in row if value is not None]


def unkeyed_hashes_around(address: str) -> set[str]:
    """What a reader would try: the SHA-256 of every address of the guesser's network
    (a /24, or the /64 an IPv6 address counts in), as the old hashes were made."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        return {hashlib.sha256(str(ipaddress.ip_network(f"{ip}/64", strict=False))
                               .encode()).hexdigest()}
    return {hashlib.sha256(str(candidate).encode()).hexdigest()
            for candidate in ipaddress.ip_network(f"{ip}/24", strict=False)}


def test_a_reader_of_identitys_database_learns_no_address_and_no_signing_key(
        broker_settings, tmp_path, new_database):
    rt = runtime(broker_settings, tmp_path, new_database("identity"))
    try:
        for peer in GUESSERS:
            for _ in range(3):
                assert sign_in(rt, "a-wrong-password", peer).status_code == 401
        token = sign_in(rt, OPERATOR[1], "192.0.2.1").json["access_token"]
        cells = every_cell(rt.engine)
        with rt.engine.connect() as conn:
            stored = set(conn.execute(sa.text(
                "SELECT address_hash FROM sign_in_failures UNION "
                "SELECT address_hash FROM address_failures")).scalars())
        assert len(stored) == 2  # one per guesser, counted
        for peer in GUESSERS:
            assert not [c for c in cells if peer in c]
            assert not stored & unkeyed_hashes_around(peer)

        # The signing key is in the database only sealed: no PEM, no key material.
        ring = rt.context.use_cases.identity.keys
        private = ring._key(ring._rows()[0])
        assert key_id(private.public_key()) == jwt.get_unverified_header(token)["kid"]
        raw = private.private_bytes(serialization.Encoding.Raw,
                                    serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
        pem_body = b"".join(private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).splitlines()[1:-1]).decode()
        assert not [c for c in cells if "PRIVATE KEY" in c or pem_body in c
                    or raw.hex() in c]
    finally:
        rt.engine.dispose()


def _migrate(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(SPEC.migrations_dir))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    engine.dispose()


def test_a_deployment_from_before_keeps_its_key_sealed_and_its_limits_start_afresh(
        broker_settings, tmp_path, new_database):
    """A database at migration 0007 holds its signing key as plain PEM and unkeyed hashes
    of client addresses. After the upgrade the key is sealed, still signs (the same kid,
    so tokens issued before keep verifying), and the old hashes are gone."""
    url = new_database("identity")
    _migrate(url, "0007")
    old_key = Ed25519PrivateKey.generate()
    kid = key_id(old_key.public_key())
    pem = old_key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    unkeyed = hashlib.sha256(GUESSERS[0].encode()).hexdigest()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO signing_keys (kid, private_pem, created_at) "
                             "VALUES (:k, :p, now())"), {"k": kid, "p": pem})
        conn.execute(sa.text("INSERT INTO address_failures (address_hash, window_start, "
                             "failures) VALUES (:h, now(), 7)"), {"h": unkeyed})
    engine.dispose()

    rt = runtime(broker_settings, tmp_path, url)
    try:
        with rt.engine.connect() as conn:
            (sealed,) = conn.execute(sa.text(
                "SELECT sealed_private_key FROM signing_keys WHERE kid=:k"), {"k": kid}).one()
            assert conn.execute(sa.text("SELECT count(*) FROM address_failures")
                                ).scalar_one() == 0
        assert "PRIVATE KEY" not in sealed and pem not in sealed
        token = sign_in(rt, OPERATOR[1], GUESSERS[0]).json["access_token"]
        assert jwt.get_unverified_header(token)["kid"] == kid
        jwt.decode(token, old_key.public_key(), algorithms=["EdDSA"],
                   audience="pupil-progress-api")
    finally:
        rt.engine.dispose()


def test_an_identity_process_with_another_secret_or_none_stops_at_start(
        broker_settings, tmp_path, new_database):
    """Every identity process must hold the same secret: one with another would seal what
    the others cannot open, so it stops at start rather than sign or count apart. A
    secret file named in the configuration must exist (never made on the spot)."""
    url = new_database("identity")
    rt = runtime(broker_settings, tmp_path / "first", url)
    rt.engine.dispose()
    other = tmp_path / "other-secret"
    other.write_bytes(b"another deployment's secret, long enough to be one\n")
    with pytest.raises(SecretError):
        runtime(broker_settings, tmp_path / "second", url, identity_secret_file=str(other))
    with pytest.raises(SecretError):
        runtime(broker_settings, tmp_path / "third", url,
                identity_secret_file=str(tmp_path / "missing"))
    same = runtime(broker_settings, tmp_path / "fourth", url,
                   identity_secret_file=str(tmp_path / "first" / "keys" / "identity-secret"))
    try:
        assert sign_in(same, OPERATOR[1], "192.0.2.1").status_code == 200
    finally:
        same.engine.dispose()
