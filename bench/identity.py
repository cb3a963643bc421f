"""Sign-ins per second and token verifications per second, beside their bare baselines.

    make bench            (or: .venv/bin/python -m bench.identity --sign-ins 40)

Sign-ins go through identity's API (Flask test client, no HTTP server) on PostgreSQL
(PP_TEST_DATABASE_URL, default the local one; a database of its own, dropped after). The
baseline is one bare argon2id verification with the same parameters: a sign-in is meant to
cost about that and little more. Verification is the shared TokenVerifier beside a bare
PyJWT EdDSA decode of the same tokens: distinct tokens, each new to the verifier, and one
token again and again (which the verifier may remember until it expires).
"""
from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from dataclasses import replace

import jwt

from bench.common import Figure, table, temporary_database
from services.identity import domain
from services.identity.app import SPEC
from shared.auth import ALGORITHM, AUDIENCE, ISSUER
from shared.config import Settings
from shared.service import ServiceRuntime

EMAIL, PASSWORD = "bench-operator@example.org", "bench-password-1"


def per_second(count: int, work) -> float:
    start = time.perf_counter()
    for _ in range(count):
        work()
    return count / (time.perf_counter() - start)


def per_second_each(items: list, work) -> float:
    start = time.perf_counter()
    for item in items:
        work(item)
    return len(items) / (time.perf_counter() - start)


def figures(quick: bool = False, sign_ins: int | None = None,
            verifies: int | None = None) -> list[Figure]:
    sign_ins = sign_ins or (10 if quick else 40)
    verifies = verifies or (1000 if quick else 5000)
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
            argon2_rate = per_second(sign_ins, lambda: hasher.verify(stored, PASSWORD))
            sign_in_rate = per_second(sign_ins, sign_in)

            token = client.post("/api/v1/auth/token", json=body).json["access_token"]
            keys = rt.context.use_cases.identity.keys
            public = keys.public_keys()[jwt.get_unverified_header(token)["kid"]]

            def bare_decode(text: str):
                return jwt.decode(text, public, algorithms=[ALGORITHM], audience=AUDIENCE,
                                  issuer=ISSUER)
            # Tokens it has not seen, as at the first request of each sign-in; then one
            # token again and again, which the verifier may remember.
            fresh = [keys.signer().issue(str(uuid.uuid4()), "school_admin", [str(uuid.uuid4())])
                     for _ in range(verifies)]
            verifier = keys.verifier()
            bare_fresh = per_second_each(fresh, bare_decode)
            verify_fresh = per_second_each(fresh, verifier.verify)
            bare_rate = per_second(verifies, lambda: bare_decode(token))
            verify_rate = per_second(verifies, lambda: verifier.verify(token))
            rt.engine.dispose()
    finally:
        drop_database()
    return [
        Figure("identity", f"sign-in: password grant through the API, PostgreSQL ({sign_ins})",
               sign_in_rate, "sign-ins/s", "bare argon2id verify", argon2_rate),
        Figure("identity", f"token verification, {verifies:,} tokens each new to the shared "
               "TokenVerifier", verify_fresh, "verifications/s", "bare PyJWT EdDSA decode",
               bare_fresh),
        Figure("identity", f"token verification, one token {verifies:,} times",
               verify_rate, "verifications/s", "bare PyJWT EdDSA decode", bare_rate)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sign-ins", type=int, default=40)
    parser.add_argument("--verifies", type=int, default=5000)
    args = parser.parse_args()
    print(table(figures(sign_ins=args.sign_ins, verifies=args.verifies)))


if __name__ == "__main__":
    main()
