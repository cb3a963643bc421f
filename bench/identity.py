"""Sign-ins per second and token verifications per second, beside their bare baselines.

    make bench            (or: .venv/bin/python -m bench.identity --sign-ins 40)

Sign-ins go through identity's API (Flask test client, no HTTP server) on PostgreSQL
(PP_TEST_DATABASE_URL, default the local one; a database of its own, dropped after). The
baseline is one bare argon2id verification with the same parameters: a sign-in is meant to
cost about that and little more. Verification is the shared TokenVerifier beside a bare
PyJWT EdDSA decode of the same token.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import jwt

from bench.common import temporary_database
from services.identity import domain
from services.identity.app import SPEC
from services.identity.service import identity_of
from shared.auth import ALGORITHM, AUDIENCE, ISSUER
from shared.config import Settings
from shared.service import ServiceRuntime

EMAIL, PASSWORD = "bench-operator@example.org", "bench-password-1"


def per_second(count: int, work) -> float:
    start = time.perf_counter()
    for _ in range(count):
        work()
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sign-ins", type=int, default=40)
    parser.add_argument("--verifies", type=int, default=5000)
    args = parser.parse_args()

    url, drop_database = temporary_database("identity")
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            settings = replace(Settings.from_env({"PP_DATA_DIR": data_dir}),
                               database_urls={"identity": url},
                               bootstrap_operator_email=EMAIL,
                               bootstrap_operator_password=PASSWORD)
            rt = ServiceRuntime(SPEC, settings)
            rt.start()
            client = rt.create_app().test_client()
            body = {"grant_type": "password", "email": EMAIL, "password": PASSWORD}

            def sign_in():
                assert client.post("/api/v1/auth/token", json=body).status_code == 200
            hasher = domain.password_hasher()
            stored = hasher.hash(PASSWORD)
            argon2_rate = per_second(args.sign_ins, lambda: hasher.verify(stored, PASSWORD))
            sign_in_rate = per_second(args.sign_ins, sign_in)

            token = client.post("/api/v1/auth/token", json=body).json["access_token"]
            verifier = identity_of(rt.context).keys.verifier()
            kid = jwt.get_unverified_header(token)["kid"]
            public = identity_of(rt.context).keys.public_keys()[kid]
            bare_rate = per_second(args.verifies, lambda: jwt.decode(
                token, public, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER))
            verify_rate = per_second(args.verifies, lambda: verifier.verify(token))
            rt.engine.dispose()
    finally:
        drop_database()

    rows = [("sign-in (password grant, API + PostgreSQL)", sign_in_rate, argon2_rate,
             "bare argon2id verify"),
            ("token verification (shared TokenVerifier)", verify_rate, bare_rate,
             "bare PyJWT EdDSA decode")]
    print(f"\n{'measure':<44} {'per s':>8} {'µs each':>9} {'baseline':<24} {'per s':>8} "
          f"{'ratio':>6}")
    for name, rate, base, base_name in rows:
        print(f"{name:<44} {rate:>8.0f} {1e6 / rate:>9.0f} {base_name:<24} {base:>8.0f} "
              f"{rate / base:>6.2f}")


if __name__ == "__main__":
    main()
