"""Passkey rules (WebAuthn, through py_webauthn), free of Flask, SQLAlchemy and kombu: the
relying party, the options handed to the browser, checking what the authenticator
answered, and the names people give their passkeys (issue 25).

Every passkey is discoverable (a resident key) and every use needs user verification (the
device's PIN, fingerprint or face): so a passkey sign-in is two factors at once, something
held and something known or been, and a staff sign-in by passkey needs no TOTP code."""
from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import webauthn
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (AuthenticatorSelectionCriteria,
                                      PublicKeyCredentialDescriptor, ResidentKeyRequirement,
                                      UserVerificationRequirement)

from shared.errors import Conflict, Invalid, NotFound, Unauthenticated

from .domain import IdentityError

CHALLENGE_LIFETIME = dt.timedelta(minutes=5)
NAME_MAX_LENGTH = 60
MAX_PASSKEYS = 10  # per login: bounds what one account can store
# Sign-in challenges one client address may hold open at once (each lives five minutes):
# a flood of unanswered ones from one address is refused (429), not stored.
OPEN_SIGN_IN_CHALLENGES = 20
# RFC 8176: a hardware-secured key ("hwk"), the user verified by the device ("user"),
# and so more than one factor ("mfa"); shared.auth counts "hwk" with "user" as both.
PASSKEY_AMR = ["hwk", "user", "mfa"]
METHOD = "passkey"  # refresh_tokens.method of a sign-in begun with one
# A sign-in begun with a passkey that does not count for staff (not `staff_grade`: added
# while the login was only a parent's or a student's, or before migration 0017): it acts
# in no staff role, and while the login holds one its tokens say no second factor.
NOT_STAFF_METHOD = "passkey_not_staff"


class Ceremony(StrEnum):
    """What a challenge is for (passkey_challenges.purpose): one is never taken for the
    other."""
    REGISTER = "register"
    SIGN_IN = "sign_in"


@dataclass(frozen=True)
class RelyingParty:
    """Who the passkeys are for: the RP ID (a domain), the origins the web app is served
    from (Settings.passkey_rp_id, passkey_origins) and the name authenticators show."""
    rp_id: str = "localhost"
    origins: tuple[str, ...] = ("http://localhost:8080",)
    name: str = "Pupil Progress"
    timeout_ms: int = field(default=int(CHALLENGE_LIFETIME.total_seconds() * 1000))


class PasskeyRefused(IdentityError, Unauthenticated):
    """A sign-in by passkey that proves nothing: an unknown, removed or cloned passkey, a
    wrong signature, origin or RP ID, no user verification, or a challenge used or
    expired. One answer for all."""
    code = "invalid_passkey"
    answer = "This passkey could not sign you in. Try again, or sign in with your password."


class PasskeyNotRegistered(IdentityError, Invalid):
    """What the authenticator answered to a registration does not check out."""
    code = "passkey_not_registered"
    answer = ("The passkey could not be added: the device's answer was not accepted, or "
              "the request expired. Try again.")


class PasskeyName(IdentityError, Invalid):
    code = "validation_failed"
    field = "name"
    answer = f"Give the passkey a name of 1 to {NAME_MAX_LENGTH} characters."


class TooManyPasskeys(IdentityError, Conflict):
    code = "too_many_passkeys"
    answer = f"A login can have at most {MAX_PASSKEYS} passkeys: remove one first."


class ReauthenticationRequired(IdentityError, Unauthenticated):
    """Adding a passkey asks who is there: the password, unless the sign-in passed a
    second factor (a code, or a passkey) within the last 15 minutes. A stolen token alone
    never plants a passkey that outlives a password reset."""
    code = "reauthentication_required"
    answer = "Enter your password to add a passkey."


class PasskeyUnknown(IdentityError, NotFound):
    """Not a passkey of this login (or none at all): the same answer."""


def passkey_name(raw: str) -> str:
    """The name as kept: spaces trimmed and runs of them made one; control characters
    refused."""
    name = " ".join(str(raw).split())
    if not 1 <= len(name) <= NAME_MAX_LENGTH or any(not c.isprintable() for c in name):
        raise PasskeyName()
    return name


def new_challenge() -> bytes:
    return secrets.token_bytes(32)


def registration_options(rp: RelyingParty, challenge: bytes, user_handle: str,
                         user_name: str, existing: list[str]) -> dict[str, Any]:
    """The browser's PublicKeyCredentialCreationOptions (JSON): a discoverable credential
    with user verification required; the login's passkeys already there excluded."""
    options = webauthn.generate_registration_options(
        rp_id=rp.rp_id, rp_name=rp.name, user_id=user_handle.encode(), user_name=user_name,
        user_display_name=user_name, challenge=challenge, timeout=rp.timeout_ms,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED, require_resident_key=True,
            user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(
            id=webauthn.base64url_to_bytes(c)) for c in existing])
    return dict(json.loads(webauthn.options_to_json(options)))


def authentication_options(rp: RelyingParty, challenge: bytes) -> dict[str, Any]:
    """PublicKeyCredentialRequestOptions (JSON) for a sign-in without an email: no
    credentials listed (the authenticator offers its discoverable ones), user
    verification required."""
    options = webauthn.generate_authentication_options(
        rp_id=rp.rp_id, challenge=challenge, timeout=rp.timeout_ms,
        user_verification=UserVerificationRequirement.REQUIRED)
    return dict(json.loads(webauthn.options_to_json(options)))


@dataclass(frozen=True)
class NewPasskey:
    credential_id: str  # base64url
    public_key: bytes  # COSE
    sign_count: int


def verify_registration(rp: RelyingParty, credential: dict[str, Any],
                        challenge: bytes) -> NewPasskey:
    """The authenticator's attestation checked against the challenge, RP ID and origins,
    with user verification: PasskeyNotRegistered otherwise."""
    try:
        verified = webauthn.verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins), require_user_verification=True)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyNotRegistered() from exc
    return NewPasskey(bytes_to_base64url(verified.credential_id),
                      verified.credential_public_key, verified.sign_count)


def credential_id_of(credential: dict[str, Any]) -> str:
    """The credential id an assertion names (base64url), checked only for its shape."""
    raw = credential.get("rawId") or credential.get("id")
    if not isinstance(raw, str) or not 1 <= len(raw) <= 1400:
        raise PasskeyRefused()
    try:
        return bytes_to_base64url(webauthn.base64url_to_bytes(raw))
    except (ValueError, TypeError) as exc:
        raise PasskeyRefused() from exc


def user_handle_of(credential: dict[str, Any]) -> str | None:
    """The user handle a discoverable credential answers with (the login's id), if any."""
    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    if not handle:
        return None
    try:
        return webauthn.base64url_to_bytes(str(handle)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise PasskeyRefused() from exc


def verify_assertion(rp: RelyingParty, credential: dict[str, Any], challenge: bytes,
                     public_key: bytes, sign_count: int) -> int:
    """The authenticator's signature over the challenge checked with the stored public
    key, the RP ID, the origins and user verification; its counter must have grown
    (unless the authenticator keeps none: both 0). The new counter, else PasskeyRefused."""
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins), credential_public_key=public_key,
            credential_current_sign_count=sign_count, require_user_verification=True)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyRefused() from exc
    return int(verified.new_sign_count)


def encode_challenge(challenge: bytes) -> str:
    return bytes_to_base64url(challenge)


def decode_challenge(stored: str) -> bytes:
    return webauthn.base64url_to_bytes(stored)
