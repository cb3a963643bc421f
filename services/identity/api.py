"""HTTP API of the identity service (API.md "Sign-in" and "Operator")."""
from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import jsonify, request
from flask_smorest import Blueprint

from shared.auth import current_principal, public, require
from shared.errors import ApiError, ErrorSchema, NotFound
from shared.pages import PageQuery
from shared.service import current_context, in_transaction

from . import domain, people, schemas
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
@keys.alt_response(200, success=True, description="A JSON Web Key Set", schema={
    "type": "object", "required": ["keys"],
    "properties": {"keys": {"type": "array", "items": {"type": "object"}}}})
def jwks():
    """The public keys every service uses to verify access tokens."""
    return jsonify(identity().keys.jwks())


auth = Blueprint("auth", __name__, url_prefix="/api/v1", description="Sign-in")


# The token endpoint takes JSON, or the form-encoded body RFC 6749 4.4.2 and OAuth clients
# send: webargs reads either ("json_or_form"), documented as both content types.
auth.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
    **Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING, "json_or_form": "application/json"}


@auth.route("/auth/token", methods=["POST"])
@public
@auth.arguments(schemas.TokenRequest, location="json_or_form")
@auth.doc(requestBody={"content": {"application/x-www-form-urlencoded": {
    "schema": schemas.TokenRequest}}})
@auth.response(200, schemas.TokenResponse)
def token(body):
    """Password, refresh-token and client-credentials grants, as JSON or form-encoded
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
@auth.arguments(schemas.ActivateRequest)
@auth.alt_response(200, success=True, schema=schemas.Activated,
                   description="The invitation accepted: the account is active")
def activate(body):
    """Accept a school's invitation with its token (single use; proves the email). A
    new login sets its password; a login that has one already gives it (a wrong one
    is a failed sign-in, 401): an invitation never overwrites a password."""
    address = current_context().settings.trusted_proxies.client_address(
        request.remote_addr, request.headers.get("X-Forwarded-For"))
    account_id = run(lambda s: identity().activate(s, body["token"], body["password"],
                                                   address),
                     commit_on=(domain.InvalidCredentials,))
    return jsonify({"status": "active", "account_id": account_id})


@auth.route("/auth/invitation", methods=["POST"])
@public
@auth.arguments(schemas.InvitationCheck)
@auth.response(200, schemas.InvitationStatus)
def invitation_status(body):
    """For the activation page: whether accepting this invitation sets a new password
    or asks for the login's existing one. Unusable tokens: 400 invalid_token."""
    return run(lambda s: identity().invitation_status(s, body["token"]))


@auth.route("/auth/logout", methods=["POST"])
@public
@auth.arguments(schemas.LogoutRequest)
@auth.alt_response(204, success=True, description="Signed out (also for an unknown token)")
def logout(body):
    """Revoke the refresh token and every token rotated from the same sign-in."""
    run(lambda s: identity().logout(s, body["refresh_token"]))
    return "", 204


@auth.route("/auth/password-reset", methods=["POST"])
@public
@auth.arguments(schemas.ResetRequest)
@auth.alt_response(202, success=True, description="Requested", schema={
    "type": "object", "properties": {"status": {"type": "string"}}})
def request_reset(body):
    """Email a reset link if the account exists; the answer never says whether."""
    run(lambda s: identity().request_reset(s, body["email"]))
    return jsonify({"status": "requested"}), 202


@auth.route("/auth/password-reset/confirm", methods=["POST"])
@public
@auth.arguments(schemas.ResetConfirm)
@auth.alt_response(200, success=True, schema=schemas.StatusOut,
                   description="The password set (`reset`)")
def confirm_reset(body):
    """Set a new password with the reset token; signs out every session."""
    run(lambda s: identity().reset_password(s, body["token"], body["password"]))
    return jsonify({"status": "reset"})


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


def answers(*statuses: tuple[int, str]):
    """Document the errors an operation really answers, each with the one error schema
    (its `code` tells them apart)."""
    def decorate(view):
        for status, description in reversed(statuses):
            view = auth.alt_response(status, schema=ErrorSchema,
                                     description=description)(view)
        return view
    return decorate


UNAUTHORIZED = (401, "unauthorized: no valid token; second_factor_required: a staff "
                "token that has not passed the second factor")
STEP_UP = (401, "unauthorized: no valid token; second_factor_required: not passed; "
           "step_up_required: passed more than 15 minutes ago (pass it again, then retry)")
WRONG_CODE = (401, "unauthorized: no valid token or not a sign-in's; "
              "invalid_second_factor: a wrong or used code, or too many attempts")
NOT_STAFF = (404, "not_found: the token's role has no second factor here")


@auth.route("/auth/second-factor/totp", methods=["POST"])
@require("operator", "school_admin", second_factor=False)
@auth.response(201, schemas.TotpEnrolment)
@answers((401, "unauthorized: no valid token, or not a sign-in's"), NOT_STAFF,
         (409, "second_factor_enrolled: the login has a confirmed second factor"))
def enrol_totp():
    """Start enrolling an authenticator app (TOTP, RFC 6238): its key, as a QR code drawn
    here and as a manual key, shown only now. Again before confirming: a new key. 409
    once a second factor is enrolled."""
    account_id, _, _ = sign_in_of_token()
    return run(lambda s: identity().enrol_totp(s, account_id))


@auth.route("/auth/second-factor/totp/confirm", methods=["POST"])
@require("operator", "school_admin", second_factor=False)
@auth.arguments(schemas.SecondFactorCode)
@auth.response(200, schemas.SecondFactorPassed)
@answers(WRONG_CODE, NOT_STAFF,
         (409, "second_factor_not_enrolled: no enrolment started; "
               "second_factor_enrolled: already confirmed"))
def confirm_totp(body):
    """Confirm the enrolment with the app's current code: ten single-use recovery codes
    (shown only now) and an access token of this sign-in that passed the second factor
    (the sign-in's refresh token gives such tokens from now on). Wrong codes are limited
    as wrong passwords are (401 invalid_second_factor)."""
    account_id, family, role = sign_in_of_token()
    address = client_address()
    return run(lambda s: identity().confirm_totp(s, account_id, family, role, body["code"],
                                                 address),
               commit_on=(domain.SecondFactorRefused,))


@auth.route("/auth/second-factor", methods=["POST"])
@require("operator", "school_admin", second_factor=False)
@auth.arguments(schemas.SecondFactorPass)
@auth.response(200, schemas.TokenResponse)
@answers(WRONG_CODE, NOT_STAFF,
         (409, "second_factor_not_enrolled: the login has no second factor yet: enrol"))
def pass_second_factor(body):
    """Pass the second factor after the password: the app's current code (each accepted
    once) or an unused recovery code. An access token of this sign-in that passed it (the
    sign-in's refresh token gives such tokens from now on). Wrong codes are limited as
    wrong passwords are (401 invalid_second_factor)."""
    account_id, family, role = sign_in_of_token()
    address = client_address()
    return run(lambda s: identity().pass_second_factor(
        s, account_id, family, role, address, code=body.get("code"),
        recovery_code=body.get("recovery_code")),
        commit_on=(domain.SecondFactorRefused,))


@auth.route("/auth/second-factor/totp/replacement", methods=["POST"])
@require("operator", "school_admin", step_up=True)
@auth.response(201, schemas.TotpEnrolment)
@answers(STEP_UP, NOT_STAFF,
         (409, "second_factor_not_enrolled: no confirmed authenticator app to replace"))
def start_totp_replacement():
    """Replace your authenticator app (a new phone): a new key, as a QR code and a manual
    key, shown only now. The app in use keeps working until a code of the new one
    confirms it (POST .../replacement/confirm). Wants a second factor passed within 15
    minutes; you are emailed when it is replaced."""
    account_id, _, _ = sign_in_of_token()
    return run(lambda s: identity().start_totp_replacement(s, account_id))


@auth.route("/auth/second-factor/totp/replacement/confirm", methods=["POST"])
@require("operator", "school_admin", step_up=True)
@auth.arguments(schemas.SecondFactorCode)
@auth.response(200, schemas.RecoveryCodes)
@answers((401, STEP_UP[1] + "; invalid_second_factor: a wrong code of the new app, or "
               "too many attempts"), NOT_STAFF,
         (409, "second_factor_not_enrolled: no replacement started"))
def confirm_totp_replacement(body):
    """Confirm the new authenticator app with its current code: it replaces the old one,
    and ten new recovery codes (shown only now) replace the old ones."""
    account_id, _, _ = sign_in_of_token()
    address = client_address()
    return run(lambda s: identity().confirm_totp_replacement(s, account_id, body["code"],
                                                             address),
               commit_on=(domain.SecondFactorRefused,))


@auth.route("/auth/second-factor/recovery-codes", methods=["POST"])
@require("operator", "school_admin", step_up=True)
@auth.response(200, schemas.RecoveryCodes)
@answers(STEP_UP, NOT_STAFF,
         (409, "second_factor_not_enrolled: no authenticator app enrolled"))
def regenerate_recovery_codes():
    """Ten new recovery codes, shown only now; the earlier ones stop working. Wants a
    second factor passed within 15 minutes; you are emailed."""
    account_id, _, _ = sign_in_of_token()
    return run(lambda s: identity().regenerate_recovery_codes(s, account_id))


@auth.route("/me", methods=["GET"])
@require("operator", "school_admin", "parent", "student", "school_system")
@auth.response(200, schemas.MeOut)
def me():
    """The signed-in account."""
    principal = current_principal()
    return run(lambda s: identity().me(s, principal.account_id, principal.role))


operator = Blueprint("schools", __name__, url_prefix="/api/v1",
                     description="Schools, staff and school-system clients")


@operator.route("/schools", methods=["POST"])
@require("operator")
@operator.arguments(schemas.SchoolCreate)
@operator.response(201, schemas.IdOut)
def create_school(body):
    """Create a school (active at once), recording its authorisation."""
    return {"id": run(lambda s: identity().create_school(
        s, body["name"], body.get("authorisation"), body["student_accounts"], body))}


@operator.route("/schools", methods=["GET"])
@require("operator")
@operator.arguments(PageQuery, location="query")
@operator.response(200, schemas.SchoolList)
def list_schools(query):
    """Every school (offboarded ones too) with its authorisation and settings, by id,
    `limit` (at most 100) at a time; `next` is the `after` of the next page."""
    return run(lambda s: identity().list_schools(s, query["after"],
                                                 query["limit"]))._asdict()


@operator.route("/schools/<uuid:school_id>", methods=["GET"])
@require("operator")
@operator.response(200, schemas.SchoolDetail)
def get_school(school_id):
    """One school: its authorisation, settings, admins (names and emails, for the
    onboarding) and school-system clients (never a secret)."""
    return run(lambda s: identity().school_detail(s, str(school_id)))


@operator.route("/schools/<uuid:school_id>", methods=["PATCH"])
@require("operator")
@operator.arguments(schemas.SchoolUpdate)
@operator.response(200, schemas.SchoolOut)
def update_school(body, school_id):
    """Change a school's settings, such as student accounts."""
    return run(lambda s: identity().update_school(s, str(school_id), body))


@operator.route("/schools/<uuid:school_id>", methods=["DELETE"])
@require("operator", step_up=True)
@operator.alt_response(202, success=True, schema=schemas.StatusOut,
                       description="Offboarding begun (`offboarding`)")
def offboard_school(school_id):
    """Offboard: every service erases the school's data (SchoolOffboarded)."""
    run(lambda s: identity().offboard_school(s, str(school_id)))
    return jsonify({"status": "offboarding"}), 202


@operator.route("/schools/<uuid:school_id>/people", methods=["GET"])
@require("school_admin")
@operator.arguments(schemas.PeopleQuery, location="query")
@operator.response(200, schemas.PersonList)
def school_people(query, school_id):
    """The names the school recorded for its own people, by account, guardian or student
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
@operator.arguments(schemas.StaffInvite)
@operator.response(201, schemas.IdOut)
def invite_staff(body, school_id):
    """Invite a member of staff; the invitation is emailed. The same answer whether or
    not the email has a login anywhere: it joins the school's staff when the person
    accepts."""
    school_scope(str(school_id))
    return {"id": run(lambda s: identity().invite_staff(
        s, str(school_id), body["name"], body["email"], body["role"]))}


@operator.route("/accounts/<uuid:account_id>/invitation", methods=["POST"])
@require("operator", "school_admin")
@operator.arguments(schemas.ResendQuery, location="query")
@operator.response(202, schemas.InvitationOut)
def resend_invitation(query, account_id):
    """Send a new invitation to accept the school's (`school_id`, else the caller's or
    the login's pending one) memberships; earlier links of that school stop working;
    capped per hour."""
    principal = current_principal()
    scope = None if principal.role == "operator" else principal.school_ids
    school_id = str(query["school_id"]) if query.get("school_id") else None
    return {"expires_at": run(lambda s: identity().resend_invitation(
        s, str(account_id), scope, school_id))}


@operator.route("/schools/<uuid:school_id>/clients", methods=["POST"])
@require("operator", step_up=True)
@operator.response(201, schemas.ClientOut)
def create_client(school_id):
    """Credentials for the school's systems; the secret is shown only here."""
    client_id, secret = run(lambda s: identity().create_client(s, str(school_id)))
    return {"client_id": client_id, "client_secret": secret}


@operator.route("/schools/<uuid:school_id>/clients/<uuid:client_id>/schools/"
                "<uuid:other_school_id>", methods=["PUT"])
@require("operator")
@operator.alt_response(204, success=True, description="The client may act for both schools")
def grant_client(school_id, client_id, other_school_id):
    """Let the school's client act for another school of the same trust too (a trust's
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
    """Revoke a school-system client: its tokens are refused once they expire."""
    run(lambda s: identity().revoke_client(s, str(school_id), str(client_id)))
    return "", 204


@operator.route("/accounts/<uuid:account_id>/second-factor", methods=["DELETE"])
@require("operator", "school_admin", step_up=True)
@operator.arguments(schemas.SecondFactorResetQuery, location="query")
@operator.response(200, schemas.SecondFactorReset)
@answers(STEP_UP,
         (404, "not_found: no such login, or not one you may reset (a school admin: "
               "only the admins of their own schools; an operator: school admins and "
               "other operators)"),
         (409, "own_second_factor: your own (replace it instead); "
               "second_factor_not_enrolled: the login has no second factor"))
def reset_second_factor(query, account_id):
    """Reset another person's second factor (a lost phone and lost recovery codes): a
    school admin for another admin of the same school, an operator for a school admin or
    another operator; never one's own. The key and recovery codes go, every sign-in of
    the person ends, and their next sign-in enrols a new authenticator app. Recorded in
    the school's audit trail (GET /schools/{id}/second-factor-resets); the person is
    emailed. Wants the caller's second factor passed within 15 minutes."""
    principal = current_principal()
    school_id = str(query["school_id"]) if query.get("school_id") else None
    return run(lambda s: identity().reset_second_factor(
        s, principal.account_id, principal.role, principal.school_ids, str(account_id),
        school_id))


@operator.route("/schools/<uuid:school_id>/second-factors", methods=["GET"])
@require("operator", "school_admin")
@operator.response(200, schemas.StaffFactorList)
@answers(UNAUTHORIZED, (404, "not_found: not your school"))
def school_admin_factors(school_id):
    """The school's admins and whether each has a second factor (never a key or a
    code): who may need a reset."""
    school_scope(str(school_id))
    return {"items": run(lambda s: identity().school_admin_factors(s, str(school_id))),
            "next": None}


@operator.route("/schools/<uuid:school_id>/second-factor-resets", methods=["GET"])
@require("operator", "school_admin")
@operator.response(200, schemas.SecondFactorResetList)
@answers(UNAUTHORIZED, (404, "not_found: not your school"))
def school_second_factor_resets(school_id):
    """The school's audit trail of second factors reset, newest first: whose, by whom
    (ids: GET /schools/{id}/people names them) and when."""
    school_scope(str(school_id))
    return {"items": run(lambda s: identity().second_factor_resets(s, str(school_id))),
            "next": None}


@operator.route("/accounts/second-factor-resets", methods=["GET"])
@require("operator")
@operator.response(200, schemas.SecondFactorResetList)
@answers(UNAUTHORIZED)
def operator_second_factor_resets():
    """The audit trail of operators' second factors reset by another operator."""
    return {"items": run(lambda s: identity().second_factor_resets(s, None)),
            "next": None}


BLUEPRINTS = (keys, auth, operator)
