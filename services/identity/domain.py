"""Identity rules, free of Flask, SQLAlchemy sessions and kombu: password hashing, secrets,
sign-in throttling, lifetimes. Each rule is a plain function or a small value object."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's minimum for argon2id: m=19 MiB, t=2, p=1. Raising these rehashes on sign-in.
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 256  # bounds the hashing work an attacker can ask for

STAFF_ROLES = ("school_admin",)
# The roles a person's login can act in, in the order a sign-in that names none picks from.
ACCOUNT_ROLES = ("operator", "school_admin", "parent", "student")


def default_role(roles) -> str | None:
    """The role a sign-in acts in when it names none: the first the login holds."""
    return next((role for role in ACCOUNT_ROLES if role in roles), None)


class IdentityError(Exception):
    """A rule refused the request; `code` is the API error code."""
    code = "refused"


class InvalidCredentials(IdentityError):
    """Unknown email, wrong password, locked account: deliberately one answer for all."""
    code = "invalid_credentials"


class InvalidGrant(IdentityError):
    code = "invalid_grant"


class RoleNotHeld(IdentityError):
    """A sign-in or refresh asked for a role the login does not hold (asked only once
    the password or refresh token proved whose login it is)."""
    code = "role_not_held"


class TokenUnusable(IdentityError):
    """An invitation or reset token that is unknown, used or expired (one answer)."""
    code = "invalid_token"


class WeakPassword(IdentityError):
    code = "weak_password"


class Throttled(IdentityError):
    code = "too_many_attempts"

    def __init__(self, retry_after: int):
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


class Conflict(IdentityError):
    code = "conflict"


class Unknown(IdentityError):
    code = "not_found"


def password_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB,
                          parallelism=ARGON2_PARALLELISM, type=Type.ID)


def check_password_rules(password: str) -> None:
    if not isinstance(password, str) or not (
            PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH):
        raise WeakPassword(f"A password has {PASSWORD_MIN_LENGTH} to "
                           f"{PASSWORD_MAX_LENGTH} characters.")
    if password.strip() == "" or len(set(password)) < 4:
        raise WeakPassword("This password is too easy to guess.")


def verify_password(hasher: PasswordHasher, stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


# A real argon2id hash to verify against when the email is unknown, so that an unknown
# email costs the same time as a wrong password.
_DUMMY_HASH: str | None = None


def burn_password_check(hasher: PasswordHasher, password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hasher.hash(secrets.token_urlsafe(16))
    verify_password(hasher, _DUMMY_HASH, password)


def new_secret() -> str:
    """A URL-safe secret of 256 bits: invitation, reset and refresh tokens, client secrets."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """Secrets we issue have 256 bits of entropy, so a fast hash is enough to store them
    (unlike passwords, they cannot be guessed from a dictionary)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


# --- throttling -------------------------------------------------------------------------
@dataclass(frozen=True)
class ThrottlePolicy:
    account_free_failures: int = 5       # then each failure locks for a growing delay
    account_max_lock: dt.timedelta = dt.timedelta(minutes=15)  # owners are never out long
    address_window: dt.timedelta = dt.timedelta(minutes=15)
    address_max_failures: int = 50       # per address per window, across all accounts

    def account_lock(self, failures: int) -> dt.timedelta:
        """After the free failures: 1 s, 2 s, 4 s ... capped, so a guessing attacker gets
        a handful of password checks an hour and the owner waits minutes at most."""
        if failures < self.account_free_failures:
            return dt.timedelta(0)
        seconds = 2 ** min(failures - self.account_free_failures, 20)
        return min(dt.timedelta(seconds=seconds), self.account_max_lock)


def seconds_until(moment: dt.datetime, now: dt.datetime) -> int:
    return max(1, int((moment - now).total_seconds() + 0.999))


# --- mail caps ----------------------------------------------------------------------------
MAILS_PER_ACCOUNT_PER_HOUR = 5
