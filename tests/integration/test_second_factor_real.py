"""The TOTP second factor of staff and operators, through identity's API on real
PostgreSQL and RabbitMQ (issue 25): enrolment at first sign-in, confirmation with ten
recovery codes, passing it at each sign-in, a code accepted once, wrong codes limited as
wrong passwords are, recovery codes single use, the key sealed at rest."""
import datetime as dt
import threading

import jwt
import pyotp
import pytest
import sqlalchemy as sa

from services.identity.models import recovery_codes, second_factors, sign_in_failures
from tests.integration.test_identity_real import OPERATOR, FakeClock, IdentityUnderTest

pytestmark = pytest.mark.integration

ENROL, CONFIRM, PASS = ("/api/v1/auth/second-factor/totp",
                        "/api/v1/auth/second-factor/totp/confirm",
                        "/api/v1/auth/second-factor")


@pytest.fixture
def idp(broker_settings, new_database, tmp_path):
    service = IdentityUnderTest(broker_settings, tmp_path, new_database("identity"))
    service.identity.clock = FakeClock()  # the codes follow identity's clock
    yield service
    service.close()


def claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def code_at(key, clock, steps=0):
    return pyotp.TOTP(key).at(clock.now + dt.timedelta(seconds=30 * steps))


def get(idp, path, token):
    return idp.client.get(path, headers={"Authorization": f"Bearer {token}"})


def signed_in(idp, address="198.51.100.7"):
    answer = idp.sign_in(*OPERATOR, address=address)
    assert answer.status_code == 200, answer.json
    return answer.json


def enrolled(idp):
    """The operator enrolled: (key, recovery codes)."""
    first = signed_in(idp)
    key = idp.post(ENROL, {}, first["access_token"]).json["key"]
    done = idp.post(CONFIRM, {"code": code_at(key, idp.identity.clock)},
                    first["access_token"])
    assert done.status_code == 200, done.json
    idp.identity.clock.advance(seconds=30)  # the next code is another step's
    return key, done.json["recovery_codes"]


def test_an_operator_enrols_at_first_sign_in_and_reaches_nothing_before(idp):
    clock = idp.identity.clock
    first = signed_in(idp)
    token = first["access_token"]
    assert first["second_factor"] == "enrol" and claims(token)["amr"] == ["pwd"]
    assert "otp_at" not in claims(token)
    for path in ("/api/v1/me", "/api/v1/schools"):
        refused = get(idp, path, token)
        assert refused.status_code == 401, path
        assert refused.json["error"]["code"] == "second_factor_required"
    not_yet = idp.post(PASS, {"code": "123456"}, token)
    assert not_yet.status_code == 409
    assert not_yet.json["error"]["code"] == "second_factor_not_enrolled"

    enrolment = idp.post(ENROL, {}, token)
    assert enrolment.status_code == 201, enrolment.json
    key = enrolment.json["key"]
    assert enrolment.json["uri"].startswith("otpauth://totp/Pupil%20Progress:ops%40")
    assert pyotp.parse_uri(enrolment.json["uri"]).secret == key
    assert enrolment.json["qr_svg"].startswith("<svg") and "http" not in enrolment.json[
        "qr_svg"].replace("http://www.w3.org", "")  # drawn here, nothing fetched
    with idp.rt.engine.connect() as conn:
        sealed = conn.execute(sa.select(second_factors.c.sealed_totp_key)).scalar_one()
    assert sealed.startswith("sealed:1:") and key not in sealed

    wrong = idp.post(CONFIRM, {"code": code_at(key, clock, steps=5)}, token)
    assert wrong.status_code == 401 and wrong.json["error"]["code"] == "invalid_second_factor"
    confirmed = idp.post(CONFIRM, {"code": code_at(key, clock)}, token)
    assert confirmed.status_code == 200, confirmed.json
    codes = confirmed.json["recovery_codes"]
    assert len(set(codes)) == 10
    passed = confirmed.json["access_token"]
    assert claims(passed)["amr"] == ["pwd", "otp"] and claims(passed)["sid"] == claims(
        token)["sid"]
    assert abs(claims(passed)["otp_at"] - clock.now.timestamp()) < 2
    assert get(idp, "/api/v1/schools", passed).status_code == 200
    assert get(idp, "/api/v1/me", passed).status_code == 200
    assert get(idp, "/api/v1/me", token).status_code == 401  # the password's token still not

    again = idp.post(ENROL, {}, passed)
    assert again.status_code == 409 and again.json["error"]["code"] == "second_factor_enrolled"
    # The sign-in passed: its refresh token gives tokens that say so.
    refreshed = idp.post("/api/v1/auth/token", {"grant_type": "refresh_token",
                                                "refresh_token": first["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.json
    assert refreshed.json["second_factor"] == "passed"
    assert claims(refreshed.json["access_token"])["amr"] == ["pwd", "otp"]
    with idp.rt.engine.connect() as conn:
        hashes = conn.execute(sa.select(recovery_codes.c.code_hash)).scalars().all()
    assert len(hashes) == 10 and all(h.startswith("$argon2id$") for h in hashes)
    assert not any(code in h for h in hashes for code in codes)


def test_each_sign_in_passes_the_factor_and_a_code_is_accepted_once(idp):
    key, _ = enrolled(idp)
    clock = idp.identity.clock
    first = signed_in(idp)
    assert first["second_factor"] == "required"
    code = code_at(key, clock)
    assert idp.post(PASS, {"code": code}, first["access_token"]).status_code == 200
    second = signed_in(idp)
    replayed = idp.post(PASS, {"code": code}, second["access_token"])
    assert replayed.status_code == 401, "a code accepted once is refused after"
    earlier = idp.post(PASS, {"code": code_at(key, clock, steps=-1)}, second["access_token"])
    assert earlier.status_code == 401, "nor one of a step before it"
    later = idp.post(PASS, {"code": code_at(key, clock, steps=1)}, second["access_token"])
    assert later.status_code == 200, "the next step's code (clock drift) is accepted"
    clock.advance(minutes=5)
    stale = idp.post(PASS, {"code": code}, signed_in(idp)["access_token"])
    assert stale.status_code == 401
    # A parent needs none: no second_factor in the answer (tests/integration elsewhere).


def test_recovery_codes_pass_the_factor_once_each(idp):
    _, codes = enrolled(idp)
    token = signed_in(idp)["access_token"]
    passed = idp.post(PASS, {"recovery_code": codes[3].upper().replace("-", " ")}, token)
    assert passed.status_code == 200, passed.json
    assert claims(passed.json["access_token"])["amr"] == ["pwd", "otp"]
    again = idp.post(PASS, {"recovery_code": codes[3]}, signed_in(idp)["access_token"])
    assert again.status_code == 401
    both = idp.post(PASS, {"recovery_code": codes[4], "code": "123456"}, token)
    assert both.status_code == 422
    with idp.rt.engine.connect() as conn:
        used = conn.execute(sa.select(sa.func.count()).select_from(recovery_codes).where(
            recovery_codes.c.used_at.is_not(None))).scalar_one()
    assert used == 1


def test_wrong_codes_are_limited_as_wrong_passwords_are(idp):
    key, _ = enrolled(idp)
    clock = idp.identity.clock
    guesser = signed_in(idp, address="203.0.113.9")["access_token"]

    def from_guesser(code):
        return idp.post(PASS, {"code": code}, guesser, address="203.0.113.9").status_code
    free = idp.identity.throttle.pair_free_failures
    wrong = code_at(key, clock, steps=7)
    assert [from_guesser(wrong) for _ in range(free)] == [401] * free
    # Locked there now: even the right code is refused unchecked...
    assert from_guesser(code_at(key, clock)) == 401
    # ...while the owner, elsewhere, passes at once.
    owner = signed_in(idp, address="192.0.2.44")["access_token"]
    assert idp.post(PASS, {"code": code_at(key, clock)}, owner,
                    address="192.0.2.44").status_code == 200
    clock.advance(seconds=31)  # the lock (1 s) is over, and a new code
    assert from_guesser(code_at(key, clock)) == 200


def test_signing_in_again_with_the_password_does_not_clear_wrong_codes(idp):
    """A thief holding the password cannot buy fresh guesses at the code by signing in
    again: a password's success clears the password's count, not the codes'."""
    key, _ = enrolled(idp)
    clock = idp.identity.clock
    thief = "203.0.113.20"
    wrong = code_at(key, clock, steps=9)
    for _ in range(idp.identity.throttle.pair_free_failures):
        token = signed_in(idp, address=thief)["access_token"]
        assert idp.post(PASS, {"code": wrong}, token, address=thief).status_code == 401
    again = signed_in(idp, address=thief)["access_token"]  # the password still works
    right = idp.post(PASS, {"code": code_at(key, clock)}, again, address=thief)
    assert right.status_code == 401, "locked: the code is not even checked"


def test_wrong_codes_from_many_addresses_lock_the_account_s_codes(idp):
    """Guessing a 6-digit code spread over many addresses (an IPv6 /48 holds 65,536 of
    the /64s the limits count by) meets an account-wide limit on wrong codes, which only
    someone holding the password can reach; a password reset lifts it."""
    key, _ = enrolled(idp)
    clock = idp.identity.clock
    free = idp.identity.throttle.factor_account_free_failures
    for n in range(free + 1):
        address = f"2001:db8:{n:x}::1"
        token = signed_in(idp, address=address)["access_token"]
        assert idp.post(PASS, {"code": code_at(key, clock, steps=9)}, token,
                        address=address).status_code == 401
    fresh = "2001:db8:ffff::1"
    token = signed_in(idp, address=fresh)["access_token"]
    assert idp.post(PASS, {"code": code_at(key, clock)}, token,
                    address=fresh).status_code == 401, "the account's codes are locked"
    # The owner resets the password (which signs the thief out too): the account's counts
    # go. (Not signed in again here: identity's clock, ahead of the real one in this test,
    # dates the reset's revocation after a new token's issue.)
    assert idp.post("/api/v1/auth/password-reset", {"email": OPERATOR[0]}).status_code == 202
    reset = idp.tap.wait("PasswordResetRequested", lambda d: d["email"] == OPERATOR[0])
    assert idp.post("/api/v1/auth/password-reset/confirm", {
        "token": reset["data"]["token"], "password": "a-new-password-9"}).status_code == 200
    with idp.rt.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(sign_in_failures)
                            ).scalar_one() == 0


def test_one_code_sent_at_once_on_many_sign_ins_passes_one_of_them(idp):
    """Racing a code seen over a shoulder against its owner: requests with the same code
    at the same moment are serialised on the account, and only one passes."""
    key, _ = enrolled(idp)
    tokens = [signed_in(idp)["access_token"] for _ in range(6)]
    code, barrier, statuses = code_at(key, idp.identity.clock), threading.Barrier(6), []

    def attempt(token):
        client = idp.client.application.test_client()
        barrier.wait()
        statuses.append(client.post(PASS, json={"code": code}, headers={
            "Authorization": f"Bearer {token}"},
            environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code)
    threads = [threading.Thread(target=attempt, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200] + [401] * 5
