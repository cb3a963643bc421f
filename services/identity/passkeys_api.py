"""HTTP API of identity's passkeys (WebAuthn; the use cases in passkeys.py): a login's
passkeys, added, listed and removed by the signed-in person, and signing in with one
instead of a password (issue 25)."""
from __future__ import annotations

from flask_smorest import Blueprint

from shared.auth import (STAFF_ROLES, answers, current_principal, operation, public,
                         recent_second_factor, require)
from shared.errors import StepUpRequired

from . import domain, schemas
from . import passkey_schemas as ps
from .api import client_address, identity, run
from .passkey_rules import PasskeyNotRegistered, PasskeyRefused

passkeys = Blueprint("passkeys", __name__, url_prefix="/api/v1",
                     description="Passkeys: adding them, and signing in with one")

EVERYONE = ("operator", "school_admin", "parent", "student")


def adding_a_passkey():
    """The principal adding a passkey. A passkey signs in with both factors at once, so
    for staff adding one is as grave as an enrolment: their sign-in must have passed the
    second factor within 15 minutes, the password being no second factor (a stolen
    refresh token keeps giving tokens of an old pass): 401 step_up_required."""
    principal = current_principal()
    if principal.role in STAFF_ROLES and not recent_second_factor(principal):
        raise StepUpRequired()
    return principal


@passkeys.route("/auth/passkeys", methods=["GET"])
@require(*EVERYONE)
@passkeys.response(200, ps.PasskeyList)
def list_passkeys():
    """List the signed-in login's passkeys.

    The signed-in login's passkeys: their names and dates, never a key."""
    account_id = current_principal().account_id
    return {"items": run(lambda s: identity().list_passkeys(s, account_id))}


@passkeys.route("/auth/passkeys/registration", methods=["POST"])
@require(*EVERYONE)
@answers(409, 429)
@operation("beginPasskeyRegistration")
@passkeys.arguments(ps.PasskeyBegin)
@passkeys.response(201, ps.PasskeyCreation)
def passkey_registration_options(body):
    """Begin adding a passkey.

    Begin adding a passkey to the signed-in login: a challenge (single use, five
    minutes) and the options for navigator.credentials.create() (a discoverable
    credential, user verification required). Staff (a login holding a staff
    or operator role, even acting as a parent) need a token that passed the second
    factor within 15 minutes (else 401 step_up_required; a password does not stand in
    for it). Parents and students are asked again who is there: `password` (wrong: 401
    invalid_credentials, limited as a sign-in), unless the sign-in passed a passkey
    within the last 15 minutes (else 401 reauthentication_required). 409
    too_many_passkeys at ten."""
    principal = adding_a_passkey()
    recent = recent_second_factor(principal)
    return run(lambda s: identity().passkey_registration_options(
        s, principal.account_id, body.get("password"), client_address(), recent,
        principal.claims.get("sid")), commit_on=(domain.InvalidCredentials,))


@passkeys.route("/auth/passkeys", methods=["POST"])
@require(*EVERYONE)
@answers(409)
@passkeys.arguments(ps.PasskeyRegister)
@passkeys.response(201, ps.PasskeyOut)
def register_passkey(body):
    """Add a passkey under a name.

    Add the passkey the browser made for that challenge, under the name given. The
    attestation is checked against the challenge, the RP ID and the origins configured
    (PP_PASSKEY_RP_ID, PP_PASSKEY_ORIGINS); anything else: 422 passkey_not_registered,
    and the challenge is spent. Staff: as when beginning, 401 step_up_required. Added
    while signed in with a passkey, it goes when that passkey is removed. The token's
    sign-in ended (signed out, revoked, past its time limit): 401 invalid_grant, here as
    when beginning or removing."""
    principal = adding_a_passkey()
    recent = recent_second_factor(principal)
    return run(lambda s: identity().register_passkey(
        s, principal.account_id, str(body["challenge_id"]), body["name"],
        body["credential"], recent, principal.claims.get("sid")),
        commit_on=(PasskeyNotRegistered,))


@passkeys.route("/auth/passkeys/<uuid:passkey_id>", methods=["DELETE"])
@require(*EVERYONE)
@answers(429)
@passkeys.arguments(ps.PasskeyRemoval)
@passkeys.alt_response(204, success=True, description="The passkey removed")
def remove_passkey(body, passkey_id):
    """Remove a passkey.

    Remove one of the signed-in login's passkeys: it signs nobody in from now on
    (another login's: 404). Who is there is asked again, as when adding one: a login
    holding a staff or operator role, whatever role the token acts in, needs the second
    factor passed within 15 minutes (401 step_up_required): for it a passkey is both
    factors; anyone else gives `password` (wrong: 401 invalid_credentials, limited as a
    sign-in) unless the sign-in passed a passkey within the last 15 minutes (else 401
    reauthentication_required). The passkeys added while signed
    in with it go too (a thief's, added with a lost phone's sign-in), and every sign-in
    they began ends (its refresh and access tokens stop on every service), the one
    asking too if one of them began it: the holder of a stolen phone's sign-in must not
    keep it by removing the phone's passkey first."""
    principal = current_principal()
    recent = recent_second_factor(principal)
    run(lambda s: identity().remove_passkey(s, principal.account_id, str(passkey_id),
                                            body.get("password"), client_address(), recent,
                                            principal.claims.get("sid")),
        commit_on=(domain.InvalidCredentials,))
    return "", 204


@passkeys.route("/auth/passkey/options", methods=["POST"])
@public
@answers(429)
@operation("beginPasskeySignIn")
@passkeys.response(201, ps.PasskeyRequest)
def passkey_sign_in_options():
    """Begin signing in with a passkey.

    Begin signing in with a passkey, no email needed: a challenge (single use, five
    minutes) and the options for navigator.credentials.get() (the browser offers the
    passkeys it holds for this site; user verification required). One address holds at
    most 20 open at once, and none while over its sign-in budget (429)."""
    return run(lambda s: identity().passkey_sign_in_options(s, client_address()))


@passkeys.route("/auth/passkey", methods=["POST"])
@public
@answers(401, 429)
@passkeys.arguments(ps.PasskeySignIn)
@passkeys.response(200, schemas.TokenResponse)
def sign_in_with_passkey(body):
    """Sign in with a passkey instead of a password.

    Sign in with a passkey instead of a password: the browser's answer to the
    challenge. Tokens as the password grant gives (in `role`, else the login's
    default), having passed both factors (`amr` ["hwk", "user", "mfa"], `otp_at`): staff
    need no code. That holds for staff only with a passkey added while the login held a
    staff or operator role with a fresh second factor; one added while it was only a
    parent's or a student's signs in to those roles alone (a staff role asked for, now or
    by a refresh: 422 role_not_held; a staff-only login: 401 invalid_passkey), and while
    the login holds a staff role its tokens say no second factor (`amr` ["hwk"]).
    Anything that does not check out (unknown or removed passkey, wrong signature, origin
    or RP ID, no user verification, a counter that went back, a challenge used or
    expired): 401 invalid_passkey, counted against the address as a wrong password is."""
    return run(lambda s: identity().sign_in_with_passkey(
        s, str(body["challenge_id"]), body["credential"], client_address(),
        body.get("role")), commit_on=(PasskeyRefused, domain.RoleNotHeld))
