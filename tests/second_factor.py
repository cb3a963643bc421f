"""Staff and operator tokens that passed the second factor, for tests that sign in as
them through the public API (issue 25).

`complete(post, answer)` takes the answer of a password (or refresh) grant; for a staff or
operator sign-in it enrols the login's authenticator (first sign-in) or passes it, and
returns the answer with the access token that passed. `post(path, body, token)` calls the
identity API and returns the JSON of a 200/201 answer (asserting the status).

The TOTP keys are remembered here by account id (ids are unique across tests), and a code
is never given twice (identity accepts each once): the codes of the current step and the
next one (identity allows one step of drift; never the step before, which may be out of
the window by the time identity checks it), then the login's recovery codes, and only then
waiting for the next step.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any, Callable

import jwt
import pyotp

Post = Callable[[str, dict, str], dict]

_lock = threading.Lock()
_keys: dict[str, str] = {}  # account id -> TOTP key
_last_step: dict[str, int] = {}  # account id -> the last time step whose code was given
_recovery: dict[str, list[str]] = {}  # account id -> recovery codes not given yet
_by_email: dict[str, str] = {}  # email -> account id, of the sign-ins completed here


def account_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


def key_of(account_id: str) -> str | None:
    """The TOTP key the helper enrolled for this login (None if it did not)."""
    return _keys.get(account_id)


def remember(account_id: str, key: str, recovery_codes: list[str] | None = None) -> None:
    """A key (and its recovery codes) enrolled elsewhere, e.g. by the demo."""
    with _lock:
        _keys[account_id] = key
        if recovery_codes is not None:
            _recovery[account_id] = list(recovery_codes)


def next_factor(account_id: str) -> dict[str, str]:
    """A body for POST /auth/second-factor no earlier sign-in used."""
    key = _keys[account_id]
    totp = pyotp.TOTP(key)
    while True:
        with _lock:
            now = totp.timecode(dt.datetime.now(dt.timezone.utc))
            last = _last_step.get(account_id, now - 1)
            if last < now + 1:
                step = max(last + 1, now)
                _last_step[account_id] = step
                return {"code": totp.generate_otp(step)}
            if _recovery.get(account_id):
                return {"recovery_code": _recovery[account_id].pop()}
        time.sleep(1)  # every code of this window given: the next step's is needed


def enrol(post: Post, token: str) -> dict:
    """Enrol the login of this (password-only) token and confirm it: the confirmation's
    answer (an access token that passed, and the recovery codes)."""
    account_id = account_of(token)
    enrolled = post("/api/v1/auth/second-factor/totp", {}, token)
    with _lock:
        _keys[account_id] = enrolled["key"]
        _last_step.pop(account_id, None)
    done = post("/api/v1/auth/second-factor/totp/confirm", next_factor(account_id), token)
    with _lock:
        _recovery[account_id] = list(done["recovery_codes"])
    return done


def complete(post: Post, answer: dict[str, Any], email: str | None = None
             ) -> dict[str, Any]:
    """The token answer, with an access token that passed the second factor when the
    role needs one. `email`: the login's, remembered for code_for (browser tests)."""
    state = answer.get("second_factor")
    if state in (None, "passed"):
        return answer
    token = answer["access_token"]
    if email:
        with _lock:
            _by_email[email.lower()] = account_of(token)
    if state == "enrol":
        done = enrol(post, token)
    else:
        done = post("/api/v1/auth/second-factor", next_factor(account_of(token)), token)
    return {**answer, **{k: v for k, v in done.items() if k != "recovery_codes"}}


def flask_post(client) -> Post:
    """`post` for a Flask (or werkzeug) test client of identity."""
    def post(path: str, body: dict, token: str) -> dict:
        response = client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code in (200, 201), (path, response.status_code,
                                                     response.get_json())
        return response.get_json()
    return post


def requests_post(base_url: str, session=None) -> Post:
    """`post` over HTTP (requests) to a gateway or identity at `base_url`."""
    import requests
    http = session or requests

    def post(path: str, body: dict, token: str) -> dict:
        response = http.post(base_url + path, json=body, timeout=30,
                             headers={"Authorization": f"Bearer {token}"})
        assert response.status_code in (200, 201), (path, response.status_code,
                                                     response.text)
        return response.json()
    return post


def knows(email: str) -> bool:
    """Whether a sign-in through `complete` enrolled (or passed) this email's login."""
    return email.lower() in _by_email


def code_for(email: str) -> str:
    """A code (or recovery code) not given before, for the login of this email, which a
    sign-in through `complete` enrolled: what a person types on the code screen."""
    factor = next_factor(_by_email[email.lower()])
    return factor.get("code") or factor["recovery_code"]


def passed_claims() -> dict[str, Any]:
    """The claims of a token whose sign-in passed the second factor just now, for tests
    that sign tokens themselves (harmless on roles that need none)."""
    return {"amr": ["pwd", "otp"], "otp_at": int(time.time())}
