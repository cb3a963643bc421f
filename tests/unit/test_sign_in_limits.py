"""Sign-in limits through identity's API (SQLite, in-memory broker): a flood of failures —
from one address, spread over many on unknown emails, or aimed at a known email — never
stops the owner on another address; the address comes from the trusted proxies only."""
import datetime as dt
from dataclasses import replace

import pytest
from argon2 import PasswordHasher

from services.identity import domain
from services.identity.app import SPEC
from services.identity.models import accounts
from shared.config import Settings
from shared.db import utcnow
from shared.proxies import TrustedProxies
from shared.service import ServiceRuntime

OWNER = ("ops@example.org", "operator-secret-1")
OWNER_AT = "192.0.2.10"
ATTACKER_AT = "203.0.113.66"


class FakeClock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += dt.timedelta(**delta)


class Identity:
    def __init__(self, tmp_path, monkeypatch, proxies: str = ""):
        settings = replace(Settings.from_env({"PP_DATA_DIR": str(tmp_path)}),
                           bootstrap_operator_email=OWNER[0],
                           bootstrap_operator_password=OWNER[1],
                           trusted_proxies=TrustedProxies.parse(proxies))
        self.rt = ServiceRuntime(SPEC, settings)
        self.rt.start()
        self.client = self.rt.create_app().test_client()
        self.identity = self.rt.context.use_cases.identity
        self.clock = FakeClock()
        self.identity.clock = self.clock
        # Cheap hashes: the limits, not argon2's cost, are under test.
        cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        monkeypatch.setattr(domain, "_DUMMY_HASH", cheap.hash("nobody's"))
        with self.rt.engine.begin() as conn:
            conn.execute(accounts.update().where(accounts.c.email == OWNER[0]).values(
                password_hash=cheap.hash(OWNER[1])))
        self.identity.hasher = cheap

    def sign_in(self, email, password, peer, forwarded_for=None) -> int:
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        return self.client.post("/api/v1/auth/token", json={
            "grant_type": "password", "email": email, "password": password},
            headers=headers, environ_base={"REMOTE_ADDR": peer}).status_code


@pytest.fixture
def idp(tmp_path, monkeypatch):
    service = Identity(tmp_path, monkeypatch)
    yield service
    service.rt.engine.dispose()


def test_a_flood_from_one_address_stops_that_address_only(idp):
    statuses = [idp.sign_in(OWNER[0] if i % 2 else f"u{i}@example.org", f"guess-{i}",
                            ATTACKER_AT, forwarded_for=OWNER_AT) for i in range(200)]
    assert set(statuses) == {401, 429} and statuses[-1] == 429
    # The forged X-Forwarded-For changed nothing: the owner's own address is untouched.
    assert idp.sign_in(*OWNER, OWNER_AT) == 200
    # The attacker's address stays refused, right password or not.
    assert idp.sign_in(*OWNER, ATTACKER_AT) in (401, 429)


def test_guessing_one_account_locks_the_guessing_address_not_the_account(idp):
    checks = idp.identity.password_checks
    statuses = [idp.sign_in(OWNER[0], f"guess-{i}", ATTACKER_AT) for i in range(40)]
    assert set(statuses) == {401}  # under the address's budget: the pair's lock answers
    assert idp.identity.password_checks - checks <= 6  # a few free typos, then unchecked
    assert idp.sign_in(*OWNER, ATTACKER_AT) == 401  # even the right password, from there
    assert idp.sign_in(*OWNER, OWNER_AT) == 200
    idp.clock.advance(minutes=16)  # past the pair's longest lock
    assert idp.sign_in(*OWNER, ATTACKER_AT) == 200


def test_guesses_spread_over_many_addresses_stop_nobody_else(idp):
    for i in range(300):
        address = f"10.{i // 250}.{i % 250}.1"
        assert idp.sign_in(f"nobody{i}@example.org", "guess", address) == 401
        assert idp.sign_in(OWNER[0], f"guess-{i}", address) == 401
    assert idp.sign_in(*OWNER, OWNER_AT) == 200
    assert idp.sign_in(OWNER[0], "a typo", OWNER_AT) == 401  # the owner's own typos:
    assert idp.sign_in(*OWNER, OWNER_AT) == 200              # still free


def test_ipv6_addresses_of_one_64_share_their_limits(idp):
    statuses = [idp.sign_in(f"u{i}@example.org", "guess", f"2001:db8:5:6::{i:x}")
                for i in range(60)]
    assert statuses[-1] == 429
    assert idp.sign_in(*OWNER, "2001:db8:5:7::1") == 200


def test_behind_trusted_proxies_each_client_has_its_own_limits(tmp_path, monkeypatch):
    idp = Identity(tmp_path, monkeypatch, proxies="127.0.0.1/32")
    try:
        # Both reach identity through the gateway at 127.0.0.1, which names the client.
        flood = [idp.sign_in(f"u{i}@example.org", "guess", "127.0.0.1",
                             forwarded_for=ATTACKER_AT) for i in range(60)]
        assert flood[-1] == 429
        assert idp.sign_in(*OWNER, "127.0.0.1", forwarded_for=OWNER_AT) == 200
        # Straight to identity, around the gateway: the header is the attacker's own
        # and is ignored, so the owner's address cannot be spent.
        for i in range(60):
            idp.sign_in(OWNER[0], f"guess-{i}", "198.51.100.9", forwarded_for=OWNER_AT)
        assert idp.sign_in(*OWNER, "127.0.0.1", forwarded_for=OWNER_AT) == 200
    finally:
        idp.rt.engine.dispose()


def test_a_password_reset_lifts_every_address_lock(idp):
    for i in range(10):
        idp.sign_in(OWNER[0], f"guess-{i}", ATTACKER_AT)
    assert idp.sign_in(*OWNER, ATTACKER_AT) == 401
    assert idp.client.post("/api/v1/auth/password-reset",
                           json={"email": OWNER[0]}).status_code == 202
    with idp.rt.context.sessions() as session, session.begin():  # the worker's part
        assert idp.identity.handle_reset_requests(session) == 1
    # The reset token travels in the outbox event; take it from there.
    import json

    import sqlalchemy as sa
    with idp.rt.engine.connect() as conn:
        payload = conn.execute(sa.text("SELECT payload FROM outbox WHERE event_type = "
                                       "'PasswordResetRequested'")).scalar_one()
    token = (json.loads(payload) if isinstance(payload, str) else payload)["data"]["token"]
    assert idp.client.post("/api/v1/auth/password-reset/confirm", json={
        "token": token, "password": "a-new-password-9"}).status_code == 200
    assert idp.sign_in(OWNER[0], "a-new-password-9", ATTACKER_AT) == 200
