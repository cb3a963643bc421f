"""A sign-in's absolute lifetime (PP_SIGN_IN_MAX_DAYS, docs/decisions.md "Sign-in
hardening"): refreshed as often as one likes, the refresh-token family begun by one
sign-in ends that many days after it began, with the API's usual 401 invalid_grant and
the reason the app tells the person. SQLite, identity's API, its clock moved on."""
import datetime as dt
from dataclasses import replace

import pytest

from services.identity.app import SPEC
from services.identity.models import refresh_tokens
from shared.config import ConfigError, Settings
from shared.service import ServiceRuntime
from tests import second_factor

OPERATOR = ("ops-lifetime@example.org", "operator-secret-1")


@pytest.fixture
def service(tmp_path):
    settings = replace(Settings.from_env({"PP_DATA_DIR": str(tmp_path),
                                          "PP_SIGN_IN_MAX_DAYS": "10",
                                          "PP_REFRESH_TOKEN_DAYS": "4"}),
                       bootstrap_operator_email=OPERATOR[0],
                       bootstrap_operator_password=OPERATOR[1])
    rt = ServiceRuntime(SPEC, settings)
    rt.start()
    yield rt, rt.create_app().test_client()
    rt.engine.dispose()


def refresh(client, token: str):
    return client.post("/api/v1/auth/token", json={"grant_type": "refresh_token",
                                                   "refresh_token": token})


def signed_in(client) -> dict:
    """The operator's token answer, the second factor passed."""
    answer = client.post("/api/v1/auth/token", json={
        "grant_type": "password", "email": OPERATOR[0], "password": OPERATOR[1]}).json
    return second_factor.complete(second_factor.flask_post(client), answer)


def test_the_setting_is_read():
    assert Settings.from_env({}).sign_in_max_days == 90
    assert Settings.from_env({"PP_SIGN_IN_MAX_DAYS": "7"}).sign_in_max_days == 7


@pytest.mark.parametrize("name", ["PP_SIGN_IN_MAX_DAYS", "PP_REFRESH_TOKEN_DAYS",
                                  "PP_ACCESS_TOKEN_SECONDS"])
@pytest.mark.parametrize("value", ["0", "-3"])
def test_a_lifetime_below_one_is_refused_at_start(name, value):
    """0 would make every new sign-in one that has already ended, yet a password or
    passkey sign-in would still hand out its tokens (found by the attack on 5cd7ca2)."""
    with pytest.raises(ConfigError, match=f"{name} must be at least 1, got {int(value)}"):
        Settings.from_env({name: value})
    assert Settings.from_env({name: "1"})


def test_a_sign_in_refreshed_every_few_days_ends_at_its_absolute_lifetime(service):
    rt, client = service
    identity = rt.context.use_cases.identity
    answer = signed_in(client)
    began = identity.clock()
    token = answer["refresh_token"]
    for day in (3, 6, 9):  # each refresh within the refresh token's 4 days
        identity.clock = lambda d=day: began + dt.timedelta(days=d)
        refreshed = refresh(client, token)
        assert refreshed.status_code == 200, refreshed.json
        token = refreshed.json["refresh_token"]
    identity.clock = lambda: began + dt.timedelta(days=10, seconds=1)
    ended = refresh(client, token)
    assert ended.status_code == 401, ended.json
    assert ended.json["error"]["code"] == "invalid_grant"
    assert ended.json["error"]["reason"] == "sign_in_expired"
    # A new sign-in starts a new lifetime; unused for longer than PP_REFRESH_TOKEN_DAYS
    # its refresh token expires as before, with no reason (the sign-in has not ended).
    again = client.post("/api/v1/auth/token", json={
        "grant_type": "password", "email": OPERATOR[0], "password": OPERATOR[1]})
    assert again.status_code == 200
    renewed = refresh(client, again.json["refresh_token"])
    assert renewed.status_code == 200
    identity.clock = lambda: began + dt.timedelta(days=15, seconds=2)
    stale = refresh(client, renewed.json["refresh_token"])
    assert stale.status_code == 401 and "reason" not in stale.json["error"]


def test_a_refresh_token_gone_while_its_refresh_waited_for_the_lock_is_refused(service):
    """Its login erased between the refresh's first look and the lock: 401, never a 500."""
    rt, client = service
    identity = rt.context.use_cases.identity
    answer = signed_in(client)
    lock = identity._lock_account

    def lock_then_gone(session, account_id):
        lock(session, account_id)
        session.execute(refresh_tokens.delete().where(
            refresh_tokens.c.account_id == account_id))
    identity._lock_account = lock_then_gone
    try:
        refused = refresh(client, answer["refresh_token"])
    finally:
        identity._lock_account = lock
    assert refused.status_code == 401, refused.json
    assert refused.json["error"]["code"] == "invalid_grant"
