"""Security finding (attack on 5cd7ca2, ready-signin): a passkey registration challenge is
bound to the login, not to the sign-in that began it, so the proof of presence given when
beginning (a parent's password, or a fresh passkey factor) is carried to any other sign-in
of the login, and outlives the sign-in that gave it.

A parent's sign-in X begins adding a passkey with the password, then ends (signed out, or
the thief's phone sign-in ended by removing its passkey). Another sign-in Y of the same
login, which holds no password (a stolen refresh token: beginning without one is 401
reauthentication_required), finishes X's challenge: 201, a passkey that signs in, with
`added_by` of Y (not of the passkey that began X, whose removal therefore leaves it).
Expected: the challenge is spent with its sign-in (401 invalid_grant, or 422
passkey_not_registered), as going_sign_in refuses X's own token.

Fails on 1708df8. SQLite, identity's API; the parent's login is written to identity's
tables directly (identity has no parent without the other services)."""
import datetime as dt
import uuid

import sqlalchemy as sa
from argon2 import PasswordHasher

from services.identity.models import accounts, memberships, passkeys, schools
from tests.passkey_authenticator import SoftAuthenticator
from tests.unit.test_passkeys import ORIGIN, bearer, passkey_sign_in, service  # noqa: F401

PARENT = ("parent-challenge@example.org", "a-parent-password-1")


def _parent(rt) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    school_id, account_id = str(uuid.uuid4()), str(uuid.uuid4())
    with rt.engine.begin() as conn:
        conn.execute(schools.insert().values(id=school_id, name="School A",
                                             status="active", student_accounts=False,
                                             default_language="en", created_at=now))
        conn.execute(accounts.insert().values(
            id=account_id, email=PARENT[0], kind="person", status="active",
            password_hash=PasswordHasher().hash(PARENT[1]), created_at=now,
            activated_at=now))
        conn.execute(memberships.insert().values(
            id=str(uuid.uuid4()), account_id=account_id, school_id=school_id,
            role="parent", guardian_id=str(uuid.uuid4()), name="A Parent",
            record_version=1, created_at=now, status="accepted", accepted_at=now))
    return account_id


def _sign_in(client) -> dict:
    answer = client.post("/api/v1/auth/token", json={
        "grant_type": "password", "email": PARENT[0], "password": PARENT[1]})
    assert answer.status_code == 200, answer.json
    return answer.json


def test_a_challenge_begun_by_an_ended_sign_in_adds_no_passkey_from_another(service):  # noqa: F811,E501
    rt, client = service
    _parent(rt)
    x, y = _sign_in(client), _sign_in(client)
    begun = client.post("/api/v1/auth/passkeys/registration",
                        headers=bearer(x["access_token"]), json={"password": PARENT[1]})
    assert begun.status_code == 201, begun.json
    # Y alone may not begin one: it holds no password and no fresh factor.
    alone = client.post("/api/v1/auth/passkeys/registration",
                        headers=bearer(y["access_token"]), json={})
    assert alone.status_code == 401
    assert alone.json["error"]["code"] == "reauthentication_required"
    # X ends.
    assert client.post("/api/v1/auth/logout",
                       json={"refresh_token": x["refresh_token"]}).status_code == 204

    device = SoftAuthenticator(ORIGIN)
    finished = client.post("/api/v1/auth/passkeys", headers=bearer(y["access_token"]),
                           json={"challenge_id": begun.json["challenge_id"],
                                 "name": "Thief's key",
                                 "credential": device.create(begun.json["options"])})
    with rt.engine.connect() as conn:
        planted = conn.execute(sa.select(sa.func.count()).select_from(passkeys)
                               ).scalar_one()
    assert finished.status_code in (401, 422), (finished.status_code, finished.json)
    assert planted == 0
    assert passkey_sign_in(client, device).status_code == 401
