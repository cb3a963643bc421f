"""Identity rules, free of Flask, SQLAlchemy sessions and kombu: password hashing, secrets,
sign-in throttling, lifetimes. Each rule is a plain function or a small value object."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import ipaddress
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

import pyotp
import segno
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from shared import errors
from shared.errors import (BadRequest, DomainError, Invalid, NotFound, TooManyRequests,
                           Unauthenticated)

# OWASP's minimum for argon2id: m=19 MiB, t=2, p=1. Raising these rehashes on sign-in.
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 256  # bounds the hashing work an attacker can ask for



class SchoolStatus(StrEnum):
    ACTIVE = "active"
    OFFBOARDING = "offboarding"  # SchoolOffboarded sent; identity erases as the others do
    OFFBOARDED = "offboarded"


class AccountStatus(StrEnum):
    INVITED = "invited"  # a login with no password yet
    ACTIVE = "active"


class AccountKind(StrEnum):
    PERSON = "person"
    OPERATOR = "operator"


class MembershipStatus(StrEnum):
    """A school's relation to a login, before and after the person accepts it."""
    PENDING = "pending"
    ACCEPTED = "accepted"


STAFF_ROLES = ("school_admin",)
# The roles a person's login can act in, in the order a sign-in that names none picks from.
ACCOUNT_ROLES = ("operator", "school_admin", "parent", "student")


def default_role(roles: Collection[str]) -> str | None:
    """The role a sign-in acts in when it names none: the first the login holds."""
    return next((role for role in ACCOUNT_ROLES if role in roles), None)


class IdentityError(DomainError):
    """A rule refused the request; the class says the answer (shared/errors.py)."""


class InvalidCredentials(IdentityError, Unauthenticated):
    """Unknown email, wrong password, locked account: deliberately one answer for all."""
    code = "invalid_credentials"
    answer = ("Email or password is wrong, or there were too many attempts: "
              "try again later.")


class InvalidClient(IdentityError, Unauthenticated):
    """A client-credentials grant whose client is unknown, revoked, of a school not active,
    or whose secret is wrong: one answer for all (RFC 6749 5.2 invalid_client)."""
    code = "invalid_client"
    answer = "The client id or secret is wrong, or the client may no longer sign in."

    def __init__(self, message: str | None = None, **extra: object) -> None:
        super().__init__(message, **extra)
        self.headers = {"WWW-Authenticate": 'Basic realm="Pupil Progress"'}


class InvalidGrant(IdentityError, Unauthenticated):
    code = "invalid_grant"
    answer = "The refresh token is not valid."


class RoleNotHeld(IdentityError, Invalid):
    """A sign-in or refresh asked for a role the login does not hold (asked only once
    the password or refresh token proved whose login it is)."""
    code = "role_not_held"
    field = "role"


class TokenUnusable(IdentityError, BadRequest):
    """An invitation or reset token that is unknown, used or expired (one answer)."""
    code = "invalid_token"


class WeakPassword(IdentityError, Invalid):
    code = "weak_password"
    field = "password"


class Throttled(IdentityError, TooManyRequests):
    code = "too_many_attempts"
    answer = "Too many attempts from here: try again later."


class Conflict(IdentityError, errors.Conflict):
    code = "conflict"


class Unknown(IdentityError, NotFound):
    """No such school, client or account (answered as any missing object is)."""


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
def throttle_key(address: str) -> str:
    """What the sign-in limits count per: an IPv4 address, or an IPv6 /64 (a home or
    office is given a whole /64, so its owner can step through its addresses at will)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def address_digest(key: bytes, address: str) -> str:
    """What identity stores for a client address: an HMAC-SHA256 of its throttle key under
    the deployment's address key (services/identity/secret.py). An unkeyed hash of an IPv4
    address is undone by hashing all 2^32 of them; without the key, which never rests in
    the database, a reader of the database or a backup cannot."""
    return hmac.new(key, throttle_key(address).encode("utf-8"), hashlib.sha256).hexdigest()


def factor_address_digest(key: bytes, address: str) -> str:
    """The address as the second factor's own (account, address) pair keys it: apart from
    the password's, so a password that succeeds (a thief holding it signing in again)
    does not clear the wrong codes counted from there."""
    return hmac.new(key, b"second-factor " + throttle_key(address).encode("utf-8"),
                    hashlib.sha256).hexdigest()


# The key of an account's own count of wrong codes, from every address (sign_in_failures'
# address_hash: never a hex digest, so no address's pair).
FACTOR_ACCOUNT_WIDE = "second-factor:any-address"


@dataclass(frozen=True)
class ThrottlePolicy:
    """Sign-in limits that fall on the address failing, never on anyone else.

    Failures against one account count per (account, address) pair: after a few free
    typos each failure from that address locks that pair for a growing delay, so guessing
    from one place slows to a handful of checks an hour while the owner, anywhere else,
    signs in at once. Each address also has a budget of failures across all accounts
    (guessing many emails from one place). Nothing is counted per account alone, nor
    globally: no flood of failures, from one address or many, can fill a counter that
    refuses somebody else.
    """
    pair_free_failures: int = 5          # then each failure locks the pair a growing delay
    pair_max_lock: dt.timedelta = dt.timedelta(minutes=15)
    pair_memory: dt.timedelta = dt.timedelta(hours=24)  # a pair quiet this long is forgotten
    address_window: dt.timedelta = dt.timedelta(minutes=15)
    address_max_failures: int = 50       # per address per window, across all accounts
    # Wrong second-factor codes against one account from every address together: only
    # someone holding the password reaches them, and a 6-digit code must not fall to
    # guesses spread over many addresses. A password reset lifts it (it ends the thief's
    # sign-ins too).
    factor_account_free_failures: int = 10
    factor_account_max_lock: dt.timedelta = dt.timedelta(hours=1)

    def pair_lock(self, failures: int) -> dt.timedelta:
        """After the free failures: 1 s, 2 s, 4 s ... capped, so one address gets a handful
        of password checks an hour against an account."""
        if failures < self.pair_free_failures:
            return dt.timedelta(0)
        seconds = 2 ** min(failures - self.pair_free_failures, 20)
        return min(dt.timedelta(seconds=seconds), self.pair_max_lock)

    def factor_account_lock(self, failures: int) -> dt.timedelta:
        """After the account's free wrong codes: 1 s, 2 s, 4 s ... up to an hour, so codes
        spread over any number of addresses get a couple of dozen checks a day."""
        if failures < self.factor_account_free_failures:
            return dt.timedelta(0)
        seconds = 2 ** min(failures - self.factor_account_free_failures, 20)
        return min(dt.timedelta(seconds=seconds), self.factor_account_max_lock)

    def address_refused(self, window_start: dt.datetime, failures: int,
                        now: dt.datetime) -> dt.datetime | None:
        """Until when an address with these failures is refused (None: it is not)."""
        ends = window_start + self.address_window
        return ends if ends > now and failures >= self.address_max_failures else None


def seconds_until(moment: dt.datetime, now: dt.datetime) -> int:
    return max(1, int((moment - now).total_seconds() + 0.999))


# --- mail caps ----------------------------------------------------------------------------
MAILS_PER_ACCOUNT_PER_HOUR = 5


# --- second factor (TOTP, RFC 6238) ---------------------------------------------------------
SECOND_FACTOR_ROLES = ("operator", "school_admin")  # shared.auth.STAFF_ROLES: must pass one
TOTP_ISSUER = "Pupil Progress"
TOTP_DRIFT_STEPS = 1  # a code of the step before or after the current one is accepted too
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read and typed


class SecondFactorRefused(IdentityError, Unauthenticated):
    """A wrong, used or replayed code, or too many attempts from here: one answer."""
    code = "invalid_second_factor"
    answer = ("The code is wrong or was used already, or there were too many attempts: "
              "try again later.")


class NotEnrolled(IdentityError, errors.Conflict):
    code = "second_factor_not_enrolled"
    answer = "This login has no second factor yet: enrol one first."


class AlreadyEnrolled(IdentityError, errors.Conflict):
    code = "second_factor_enrolled"
    answer = "This login already has a second factor."


class PasskeyRequired(IdentityError, errors.Conflict):
    """A login whose only second factor is a passkey, signed in with the password alone:
    no authenticator app may be set up from such a sign-in (the password alone would
    then stand in for the passkey). Its owner signs in with the passkey first."""
    code = "passkey_required"
    answer = ("This login signs in with its passkey: sign in with the passkey to set up "
              "an authenticator app.")


class OwnSecondFactor(IdentityError, errors.Conflict):
    """Resetting one's own second factor: never by that door (a stolen password and
    session would remove the factor that guards them); the owner replaces it signed in,
    with a fresh code, or asks another admin."""
    code = "own_second_factor"
    answer = ("You cannot reset your own second factor: replace it from your account, "
              "or ask another admin of your school or an operator.")


def new_totp_key() -> str:
    return pyotp.random_base32()  # 32 base32 characters: 160 bits, RFC 4226's advice


def totp_uri(key: str, email: str) -> str:
    return pyotp.TOTP(key).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code of an otpauth URI as an SVG document, drawn here (no outside service):
    dark on white, whatever the page's colours, for the phone's camera."""
    out = io.BytesIO()
    segno.make_qr(uri, error="m").save(out, kind="svg", scale=4, border=4, dark="#000",
                                       light="#fff", xmldecl=False, svgns=True, nl=False,
                                       title="QR code of the sign-in key")
    return out.getvalue().decode()


def totp_step(key: str, code: str, now: dt.datetime, last_step: int | None) -> int | None:
    """The time step whose code `code` is (within the drift allowed), if it is later than
    the last step accepted (a code is accepted once); None otherwise."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(key)
    current = totp.timecode(now)
    found = None
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        # Every candidate compared, in constant time, whichever matches.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found


def new_recovery_codes() -> list[str]:
    """Ten codes of ten characters (about 49 bits each), shown as xxxxx-xxxxx."""
    def one() -> str:
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        return f"{raw[:5]}-{raw[5:]}"
    return [one() for _ in range(RECOVERY_CODES)]


def normalise_recovery_code(code: str) -> str:
    raw = "".join(ch for ch in code.lower() if ch.isalnum())
    return f"{raw[:5]}-{raw[5:]}" if len(raw) == 10 else raw
