"""Security finding (attack on 5cd7ca2, ready-signin): an ended sign-in still changes the
login's second factor.

going_sign_in is said to be asked by "every use of a sign-in" so that, in the seconds (a
sign-out, a reset: until TokensRevoked is applied) or minutes (past PP_SIGN_IN_MAX_DAYS:
until the access token expires) its access token still verifies, "a thief must get
nothing new". Passing the second factor and adding or removing a passkey ask it; the
step-up endpoints of recovery_api.py do not: with the ended sign-in's access token (a
fresh second factor in it) the holder regenerates the recovery codes (and so holds the
only valid ones, the owner's stop working) and replaces the authenticator app with one of
their own (the owner's stops working), both of which outlive the sign-in.

Each test here fails on 1708df8: the ended sign-in is answered 200/201, not 401
invalid_grant. SQLite, identity's API, as tests/unit/test_ended_sign_in.py."""
import pyotp
import pytest

from tests.unit.test_ended_sign_in import ENDED_BY_TIME, age, refused, sign_in_of
from tests.unit.test_passkeys import bearer, password_sign_in, service  # noqa: F401


def _ended(rt, client, how: str) -> dict:
    """An operator's sign-in that passed the TOTP factor just now, then ended by `how`
    (its access token still verifies: nothing here applies TokensRevoked)."""
    answer = password_sign_in(client)
    if how == "signed_out":
        out = client.post("/api/v1/auth/logout",
                          json={"refresh_token": answer["refresh_token"]})
        assert out.status_code == 204
    else:
        age(rt, sign_in_of(answer["access_token"]), how)
    # The sign-in has ended: the store says so on a refresh.
    late = client.post("/api/v1/auth/token", json={
        "grant_type": "refresh_token", "refresh_token": answer["refresh_token"]})
    assert refused(late), late.json
    return answer


ENDINGS = ["signed_out", *ENDED_BY_TIME]


@pytest.mark.parametrize("how", ENDINGS)
def test_an_ended_sign_in_makes_no_new_recovery_codes(service, how):  # noqa: F811
    rt, client = service
    old = _ended(rt, client, how)
    answer = client.post("/api/v1/auth/second-factor/recovery-codes",
                         headers=bearer(old["access_token"]))
    assert refused(answer), (answer.status_code, answer.json)


@pytest.mark.parametrize("how", ENDINGS)
def test_an_ended_sign_in_replaces_no_authenticator_app(service, how):  # noqa: F811
    rt, client = service
    old = _ended(rt, client, how)
    token = old["access_token"]
    started = client.post("/api/v1/auth/second-factor/totp/replacement",
                          headers=bearer(token))
    if started.status_code == 201:  # the thief's own app, enrolled in the owner's place
        confirmed = client.post("/api/v1/auth/second-factor/totp/replacement/confirm",
                                headers=bearer(token),
                                json={"code": pyotp.TOTP(started.json["key"]).now()})
        assert refused(confirmed), (confirmed.status_code, confirmed.json)
    assert refused(started), (started.status_code, started.json)
