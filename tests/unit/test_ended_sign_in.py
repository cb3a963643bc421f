"""An ended sign-in gets nothing more, whatever its access token still says (identity's
going_sign_in, asked by every use of a sign-in): past its end (sign_in_ends_at, or for a
sign-in begun before migration 0020 its first token's issue plus PP_SIGN_IN_MAX_DAYS) or
its refresh token unused past PP_REFRESH_TOKEN_DAYS, its access token (still verifying,
with a fresh second factor) neither begins nor finishes adding a passkey, nor removes
one, nor passes the second factor, and its refresh token refreshes nothing; a sign-in
still going does all of these. SQLite, identity's API; the sign-in's rows are aged in the
database, so the access token and the authenticator's codes stay current."""
import datetime as dt

import jwt
import pytest
import sqlalchemy as sa

from services.identity.models import passkeys, refresh_tokens
from shared.db import utcnow
from tests import second_factor
from tests.passkey_authenticator import SoftAuthenticator
from tests.unit.test_passkeys import (ORIGIN, add_passkey, bearer, password_sign_in,
                                      service)  # noqa: F401  (fixture)

DAY = dt.timedelta(days=1)


def begin_adding(client, token):
    return client.post("/api/v1/auth/passkeys/registration", headers=bearer(token), json={})


def finish_adding(client, token, begun: dict, device, name: str):
    return client.post("/api/v1/auth/passkeys", headers=bearer(token), json={
        "challenge_id": begun["challenge_id"], "name": name,
        "credential": device.create(begun["options"])})


def pass_factor(client, token):
    account_id = second_factor.account_of(token)
    return client.post("/api/v1/auth/second-factor", headers=bearer(token),
                       json=second_factor.next_factor(account_id))


def refresh(client, token: str):
    return client.post("/api/v1/auth/token", json={"grant_type": "refresh_token",
                                                   "refresh_token": token})


def sign_in_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sid"])


def age(rt, sign_in: str, how: str) -> None:
    """End the sign-in by time alone: nothing revoked, its access token still verifies."""
    now = utcnow()
    family = refresh_tokens.c.family_id == sign_in
    ages = {
        # Its end (PP_SIGN_IN_MAX_DAYS after it began) has come.
        "past_its_end": {"sign_in_ends_at": now - dt.timedelta(seconds=1)},
        # Begun before migration 0020 (no sign_in_ends_at), more than 90 days ago.
        "legacy_past_its_end": {"sign_in_ends_at": None,
                                "issued_at": now - 91 * DAY},
        # Its refresh token unused past PP_REFRESH_TOKEN_DAYS: nothing refreshes it.
        "refresh_token_expired": {"expires_at": now - dt.timedelta(seconds=1)},
    }
    with rt.engine.begin() as conn:
        assert conn.execute(refresh_tokens.update().where(family).values(
            **ages[how])).rowcount >= 1


def passkey_ids(rt) -> set[str]:
    with rt.engine.connect() as conn:
        return set(conn.execute(sa.select(passkeys.c.id)).scalars())


def refused(answer) -> bool:
    return answer.status_code == 401 and answer.json["error"]["code"] == "invalid_grant"


ENDED_BY_TIME = ["past_its_end", "legacy_past_its_end", "refresh_token_expired"]


def ended_sign_in(rt, client, how: str) -> tuple[dict, dict, dict]:
    """A sign-in that added a passkey and began adding another, then ended by `how`: its
    answer, the passkey, and the challenge begun."""
    old = password_sign_in(client)
    token = old["access_token"]
    kept = add_passkey(client, token, SoftAuthenticator(ORIGIN), "Desk key")
    begun_while_going = begin_adding(client, token).json
    age(rt, sign_in_of(token), how)
    return old, kept, begun_while_going


@pytest.mark.parametrize("how", ENDED_BY_TIME)
def test_an_ended_sign_in_adds_no_passkey_a_going_one_does(service, how):  # noqa: F811
    rt, client = service
    old, kept, begun_while_going = ended_sign_in(rt, client, how)
    token = old["access_token"]
    assert refused(finish_adding(client, token, begun_while_going,
                                 SoftAuthenticator(ORIGIN), "Thief's key"))
    assert refused(begin_adding(client, token))
    assert passkey_ids(rt) == {kept["id"]}

    token = password_sign_in(client)["access_token"]
    added = finish_adding(client, token, begin_adding(client, token).json,
                          SoftAuthenticator(ORIGIN), "New desk key")
    assert added.status_code == 201, added.json
    assert passkey_ids(rt) == {kept["id"], added.json["id"]}


@pytest.mark.parametrize("how", ENDED_BY_TIME)
def test_an_ended_sign_in_removes_no_passkey_a_going_one_does(service, how):  # noqa: F811
    rt, client = service
    old, kept, _ = ended_sign_in(rt, client, how)
    assert refused(client.delete(f"/api/v1/auth/passkeys/{kept['id']}",
                                 headers=bearer(old["access_token"]), json={}))
    assert passkey_ids(rt) == {kept["id"]}

    token = password_sign_in(client)["access_token"]
    assert client.delete(f"/api/v1/auth/passkeys/{kept['id']}", headers=bearer(token),
                         json={}).status_code == 204
    assert passkey_ids(rt) == set()


# Past sign_in_ends_at it was refused before: the check the sign-in store now makes alone
# began as second_factor's own, which knew neither of these two ends.
@pytest.mark.parametrize("how", ["legacy_past_its_end", "refresh_token_expired"])
def test_an_ended_sign_in_passes_no_second_factor_nor_refreshes_a_going_one_does(
        service, how):  # noqa: F811
    rt, client = service
    old, _, _ = ended_sign_in(rt, client, how)
    assert refused(pass_factor(client, old["access_token"]))
    late = refresh(client, old["refresh_token"])
    assert refused(late)
    assert late.json["error"].get("reason") == (
        None if how == "refresh_token_expired" else "sign_in_expired")

    new = password_sign_in(client)
    again = pass_factor(client, new["access_token"])
    assert again.status_code == 200, again.json
    assert again.json["second_factor"] == "passed"
    renewed = refresh(client, new["refresh_token"])
    assert renewed.status_code == 200, renewed.json
