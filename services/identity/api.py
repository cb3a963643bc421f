"""HTTP API of the identity service (API.md "Sign-in" and "Operator")."""
from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import jsonify, request
from flask_smorest import Blueprint

from shared.auth import (answers, current_principal, operation, public,
                         recent_second_factor, require)
from shared.errors import ApiError, NotFound
from shared.pages import PageQuery
from shared.service import current_context, in_transaction

from . import domain, examples, people, schemas
from .service import Identity

if TYPE_CHECKING:
    from .bootstrap import UseCases


def identity() -> Identity:
    uses: UseCases = current_context().use_cases
    return uses.identity


def run(work, commit_on=()):
    """`work` in one transaction; two requests creating the same thing at once: one
    wins, the other is told to retry (409)."""
    try:
        return in_transaction(work, commit_on=commit_on)
    except sa.exc.IntegrityError:
        raise ApiError(409, "conflict", "A concurrent request changed this; try again."
                       ) from None


def school_scope(school_id: str) -> None:
    """Operators reach every school; a school admin only their own (else 404)."""
    principal = current_principal()
    if principal.role != "operator" and not principal.in_school(school_id):
        raise NotFound()


keys = Blueprint("keys", __name__, description="Public signing keys")


@keys.route("/.well-known/jwks.json", methods=["GET"])
@public
@keys.alt_response(200, success=True, description="A JSON Web Key Set",
                   schema=schemas.JwksOut)
def jwks():
    """The token-signing public keys (a JWKS).

    The public keys every service uses to verify access tokens."""
    return jsonify(identity().keys.jwks())


auth = Blueprint("auth", __name__, url_prefix="/api/v1", description="Sign-in")


# The token endpoint takes JSON, or the form-encoded body RFC 6749 4.4.2 and OAuth clients
# send: webargs reads either ("json_or_form"), documented as both content types.
auth.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
    **Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING, "json_or_form": "application/json"}


@auth.route("/auth/token", methods=["POST"])
@public
@answers(401, 429)
@operation("issueToken")
@auth.arguments(schemas.TokenRequest, location="json_or_form", example=examples.TOKEN_REQUEST)
@auth.doc(requestBody={"content": {"application/x-www-form-urlencoded": {
    "schema": schemas.TokenRequest}}})
@auth.response(200, schemas.TokenResponse, example=examples.TOKEN_RESPONSE)
def token(body):
    """Get an access token: password, refresh-token or client grant.

    Password, refresh-token and client-credentials grants, as JSON or form-encoded
    (RFC 6749); a client may give its id and secret by HTTP Basic instead (a wrong one:
    401 invalid_client). A token is for one role:
    the one named in `role` (password and refresh grants; a refresh naming another
    role switches the sign-in to it), else the sign-in's, else the login's default.
    The answer says which (`role`) and which the login holds (`roles`)."""
    grant = body["grant_type"]
    if grant == "password":
        address = current_context().settings.trusted_proxies.client_address(
            request.remote_addr, request.headers.get("X-Forwarded-For"))
        return run(lambda s: identity().sign_in(s, body["email"], body["password"], address,
                                                body.get("role")),
                   commit_on=(domain.InvalidCredentials,))
    if grant == "refresh_token":
        return run(lambda s: identity().refresh(s, body["refresh_token"], body.get("role")),
                   commit_on=(domain.InvalidGrant,))
    return run(lambda s: identity().client_credentials(s, body["client_id"],
                                                       body["client_secret"]))


@auth.route("/auth/activate", methods=["POST"])
@public
@answers(401, 429)
@operation("activateAccount")
@auth.arguments(schemas.ActivateRequest, example=examples.ACTIVATE_REQUEST)
@auth.alt_response(200, success=True, schema=schemas.Activated,
                   description="Accepted: the account is active", example=examples.ACTIVATED)
def activate(body):
    """Accept a school's invitation and activate the login.

    Accept a school's invitation with its token (single use; proves the email). A
    new login sets its password; a login that has one already gives it (a wrong one
    is a failed sign-in, 401): an invitation never overwrites a password."""
    address = current_context().settings.trusted_proxies.client_address(
        request.remote_addr, request.headers.get("X-Forwarded-For"))
    account_id = run(lambda s: identity().activate(s, body["token"], body["password"],
                                                   address, body.get("language")),
                     commit_on=(domain.InvalidCredentials,))
    return jsonify({"status": "active", "account_id": account_id})


@auth.route("/auth/invitation", methods=["POST"])
@public
@operation("checkInvitation")
@auth.arguments(schemas.InvitationCheck)
@auth.response(200, schemas.InvitationStatus)
def invitation_status(body):
    """Check an invitation before accepting it.

    For the activation page: whether accepting this invitation sets a new password
    or asks for the login's existing one. Unusable tokens: 400 invalid_token."""
    return run(lambda s: identity().invitation_status(s, body["token"]))


@auth.route("/auth/logout", methods=["POST"])
@public
@auth.arguments(schemas.LogoutRequest)
@auth.alt_response(204, success=True, description="Signed out (also for an unknown token)")
def logout(body):
    """Sign out: revoke a refresh token and its sign-in.

    Revoke the refresh token and every token rotated from the same sign-in."""
    run(lambda s: identity().logout(s, body["refresh_token"]))
    return "", 204


@auth.route("/auth/password-reset", methods=["POST"])
@public
@operation("requestPasswordReset")
@auth.arguments(schemas.ResetRequest)
@auth.alt_response(202, success=True, description="Requested", schema={
    "type": "object", "properties": {"status": {"type": "string"}}})
def request_reset(body):
    """Ask for a password-reset email.

    Email a reset link if the account exists; the answer never says whether."""
    run(lambda s: identity().request_reset(s, body["email"]))
    return jsonify({"status": "requested"}), 202


@auth.route("/auth/password-reset/confirm", methods=["POST"])
@public
@operation("confirmPasswordReset")
@auth.arguments(schemas.ResetConfirm)
@auth.alt_response(200, success=True, schema=schemas.ResetDone,
                   description="The password set (`reset`)")
def confirm_reset(body):
    """Set a new password with a reset token.

    Set a new password with the reset token; signs out every session (and their access
    tokens on every service), and removes the login's passkeys but those that count for
    staff (a thief's among them): `passkeys_removed` says how many, so the person is told
    to add theirs again."""
    done = run(lambda s: identity().reset_password(s, body["token"], body["password"]))
    return jsonify({"status": "reset", **done})


def client_address() -> str:
    return str(current_context().settings.trusted_proxies.client_address(
        request.remote_addr, request.headers.get("X-Forwarded-For")))


def sign_in_of_token() -> tuple[str, str, str]:
    """The account, sign-in (refresh-token family) and role of the bearer token."""
    principal = current_principal()
    family = principal.claims.get("sid")
    if not isinstance(family, str):
        raise ApiError(401, "unauthorized", "This token is not of a sign-in.")
    return principal.account_id, family, principal.role


@auth.route("/auth/second-factor/totp", methods=["POST"])
@require("operator", "school_admin", second_factor=False)
@answers(409)
@auth.response(201, schemas.TotpEnrolment)
def enrol_totp():
    """Start enrolling an authenticator app (TOTP).

    Start enrolling an authenticator app (TOTP, RFC 6238): its key, as a QR code drawn
    here and as a manual key, shown only now. Again before confirming: a new key. 409
    once a second factor is enrolled, and 409 passkey_required for a login whose only
    factor is a passkey unless this sign-in passed it within 15 minutes (the password
    alone, or an old sign-in's refresh token, never adds an app: sign in with the passkey
    to add one)."""
    account_id, sign_in, _ = sign_in_of_token()
    passed = recent_second_factor(current_principal())
    return run(lambda s: identity().enrol_totp(s, account_id, sign_in, passed))


@auth.route("/auth/second-factor/totp/confirm", methods=["POST"])
@require("operator", "school_admin", second_factor=False)
@answers(409, 429)
@auth.arguments(schemas.SecondFactorCode)
@auth.response(200, schemas.SecondFactorPassed)
def confirm_totp(body):
    """Confirm the authenticator app's enrolment.

    Confirm the enrolment with the app's current code: ten single-use recovery codes
    (shown only now) and an access token of this sign-in that passed the second factor
    (the sign-in's refresh token gives such tokens from now on). Wrong codes are limited
    as wrong passwords are, and per account from every address too (401
    invalid_second_factor; a password reset lifts the account's limit)."""
    account_id, family, role = sign_in_of_token()
    address = client_address()
    passed = recent_second_factor(current_principal())  # as enrol_totp
    return run(lambda s: identity().confirm_totp(s, account_id, family, role, body["code"],
                                                 address, passed),
               commit_on=(domain.SecondFactorRefused,))


@auth.route("/auth/second-factor", methods=["POST"])
@require("operator", "school_admin", second_factor=False)
@answers(409, 429)
@auth.arguments(schemas.SecondFactorPass)
@auth.response(200, schemas.TokenResponse, example=examples.TOKEN_RESPONSE)
def pass_second_factor(body):
    """Pass the second factor after the password.

    Pass the second factor after the password: the app's current code (each accepted
    once) or an unused recovery code. An access token of this sign-in that passed it (the
    sign-in's refresh token gives such tokens from now on). Wrong codes are limited as
    wrong passwords are, and per account from every address too (401
    invalid_second_factor; a password reset lifts the account's limit)."""
    account_id, family, role = sign_in_of_token()
    address = client_address()
    return run(lambda s: identity().pass_second_factor(
        s, account_id, family, role, address, code=body.get("code"),
        recovery_code=body.get("recovery_code")),
        commit_on=(domain.SecondFactorRefused,))


@auth.route("/me", methods=["GET"])
@require("operator", "school_admin", "parent", "student", "school_system")
@operation("getMe")
@auth.response(200, schemas.MeOut, example=examples.ME)
def me():
    """The signed-in account.

    The signed-in account."""
    principal = current_principal()
    return run(lambda s: identity().me(s, principal.account_id, principal.role))


@auth.route("/me", methods=["PATCH"])
@require("operator", "school_admin", "parent", "student")
@operation("chooseLanguage")
@auth.arguments(schemas.LanguageChoice, example=examples.LANGUAGE)
@auth.response(200, schemas.LanguageOut, example=examples.LANGUAGE)
def choose_language(body):
    """Choose the signed-in person's language.

    The signed-in person's language, `en` (English) or `cy` (Cymraeg): the app's, and
    every email to them from now on (LanguageChosen). Kept on the login as their personal
    data: exported on an access request, erased with the account. Answers the language
    now recorded (GET /api/v1/me shows it as `language`)."""
    principal = current_principal()
    return {"language": run(lambda s: identity().choose_language(
        s, principal.account_id, body["language"]))}


operator = Blueprint("schools", __name__, url_prefix="/api/v1",
                     description="Schools, staff and school-system clients")


@operator.route("/schools", methods=["POST"])
@require("operator")
@operator.arguments(schemas.SchoolCreate, example=examples.SCHOOL_CREATE)
@operator.response(201, schemas.IdOut, example=examples.CREATED)
def create_school(body):
    """Create a school.

    Create a school (active at once), recording its authorisation."""
    return {"id": run(lambda s: identity().create_school(
        s, body["name"], body.get("authorisation"), body["student_accounts"], body))}


@operator.route("/schools", methods=["GET"])
@require("operator")
@operator.arguments(PageQuery, location="query")
@operator.response(200, schemas.SchoolList)
def list_schools(query):
    """List every school.

    Every school (offboarded ones too) with its authorisation and settings, by id,
    `limit` (at most 100) at a time; `next` is the `after` of the next page."""
    return run(lambda s: identity().list_schools(s, query["after"],
                                                 query["limit"]))._asdict()


@operator.route("/schools/<uuid:school_id>", methods=["GET"])
@require("operator")
@operator.response(200, schemas.SchoolDetail)
def get_school(school_id):
    """One school, with its admins and clients.

    One school: its authorisation, settings, admins (names and emails, for the
    onboarding) and school-system clients (never a secret)."""
    return run(lambda s: identity().school_detail(s, str(school_id)))


@operator.route("/schools/<uuid:school_id>", methods=["PATCH"])
@require("operator")
@operator.arguments(schemas.SchoolUpdate)
@operator.response(200, schemas.SchoolOut)
def update_school(body, school_id):
    """Change a school's settings.

    Change a school's settings, such as student accounts."""
    return run(lambda s: identity().update_school(s, str(school_id), body))


@operator.route("/schools/<uuid:school_id>", methods=["DELETE"])
@require("operator", step_up=True)
@operator.alt_response(202, success=True, schema=schemas.StatusOut,
                       description="Offboarding begun (`offboarding`)")
def offboard_school(school_id):
    """Offboard a school: erase its data everywhere.

    Offboard: every service erases the school's data (SchoolOffboarded)."""
    run(lambda s: identity().offboard_school(s, str(school_id)))
    return jsonify({"status": "offboarding"}), 202


@operator.route("/schools/<uuid:school_id>/people", methods=["GET"])
@require("school_admin")
@operation("listSchoolPeople")
@operator.arguments(schemas.PeopleQuery, location="query")
@operator.response(200, schemas.PersonList)
def school_people(query, school_id):
    """Names of the school's own people, by id.

    The names the school recorded for its own people, by account, guardian or student
    id (a school admin's console names who filed a request, whom it is about, who acted
    in its audit trail and each link's contact). Only this school's memberships answer:
    an id of another school's person answers nothing. 404 for another school."""
    school_scope(str(school_id))
    ids = {k: [str(v) for v in query[k]] for k in ("account_id", "guardian_id",
                                                   "student_id")}
    return {"items": run(lambda s: people.school_people(
        s, str(school_id), ids["account_id"], ids["guardian_id"], ids["student_id"])),
        "next": None}


@operator.route("/schools/<uuid:school_id>/staff", methods=["POST"])
@require("operator", "school_admin")
@answers(409)
@operator.arguments(schemas.StaffInvite, example=examples.STAFF_INVITE)
@operator.response(201, schemas.IdOut, example=examples.CREATED)
def invite_staff(body, school_id):
    """Invite a member of staff.

    Invite a member of staff; the invitation is emailed. The same answer whether or
    not the email has a login anywhere: it joins the school's staff when the person
    accepts."""
    school_scope(str(school_id))
    return {"id": run(lambda s: identity().invite_staff(
        s, str(school_id), body["name"], body["email"], body["role"]))}


@operator.route("/accounts/<uuid:account_id>/invitation", methods=["POST"])
@require("operator", "school_admin")
@answers(409, 429)
@operator.arguments(schemas.ResendQuery, location="query")
@operator.response(202, schemas.InvitationOut)
def resend_invitation(query, account_id):
    """Send a login's invitation again.

    Send a new invitation to accept the school's (`school_id`, else the caller's or
    the login's pending one) memberships; earlier links of that school stop working;
    capped per hour."""
    principal = current_principal()
    scope = None if principal.role == "operator" else principal.school_ids
    school_id = str(query["school_id"]) if query.get("school_id") else None
    return {"expires_at": run(lambda s: identity().resend_invitation(
        s, str(account_id), scope, school_id))}


@operator.route("/schools/<uuid:school_id>/clients", methods=["POST"])
@require("operator", step_up=True)
@operator.response(201, schemas.ClientOut, example=examples.CLIENT)
def create_client(school_id):
    """Create a school-system client (id and secret).

    Credentials for the school's systems; the secret is shown only here."""
    client_id, secret = run(lambda s: identity().create_client(s, str(school_id)))
    return {"client_id": client_id, "client_secret": secret}


@operator.route("/schools/<uuid:school_id>/clients/<uuid:client_id>/schools/"
                "<uuid:other_school_id>", methods=["PUT"])
@require("operator")
@operator.alt_response(204, success=True, description="The client may act for both schools")
def grant_client(school_id, client_id, other_school_id):
    """Let a client act for another school of its trust.

    Let the school's client act for another school of the same trust too (a trust's
    system uploading one OneRoster export for several schools); its next token carries
    both."""
    run(lambda s: identity().grant_client(s, str(school_id), str(client_id),
                                          str(other_school_id)))
    return "", 204


@operator.route("/schools/<uuid:school_id>/clients/<uuid:client_id>",
                methods=["DELETE"])
@require("operator", step_up=True)
@operator.alt_response(204, success=True, description="The client revoked")
def revoke_client(school_id, client_id):
    """Revoke a school-system client.

    Revoke a school-system client: its tokens are refused once they expire."""
    run(lambda s: identity().revoke_client(s, str(school_id), str(client_id)))
    return "", 204


BLUEPRINTS = (keys, auth, operator)  # and recovery_api's (bootstrap.py)
