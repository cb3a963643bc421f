"""HTTP API of the identity service: changing and recovering a second factor (issue 25).

The owner replaces their authenticator app or regenerates recovery codes (step-up);
another admin of the school, or an operator, resets a school admin's factor (and an
operator another operator's), recorded in an audit trail the console shows. The other
second-factor endpoints (enrol, confirm, pass) are in api.py with sign-in."""
from __future__ import annotations

from flask_smorest import Blueprint

from shared.auth import answers, current_principal, require

from . import domain, schemas
from . import recovery_schemas as rs
from .api import client_address, identity, run, school_scope, sign_in_of_token

recovery = Blueprint("second_factor", __name__, url_prefix="/api/v1",
                     description="Changing and recovering a second factor")


@recovery.route("/auth/second-factor/totp/replacement", methods=["POST"])
@require("operator", "school_admin", step_up=True)
@answers(409, 429)
@recovery.response(201, schemas.TotpEnrolment)
def start_totp_replacement():
    """Start replacing your authenticator app.

    Replace your authenticator app (a new phone): a new key, as a QR code and a manual
    key, shown only now. The app in use keeps working until a code of the new one
    confirms it (POST .../replacement/confirm). Wants the second factor passed within 15
    minutes (401 step_up_required); 409 second_factor_not_enrolled when there is no
    confirmed app to replace. You are emailed when it is replaced."""
    account_id, sign_in, _ = sign_in_of_token()
    return run(lambda s: identity().start_totp_replacement(s, account_id, sign_in))


@recovery.route("/auth/second-factor/totp/replacement/confirm", methods=["POST"])
@require("operator", "school_admin", step_up=True)
@answers(409, 429)
@recovery.arguments(schemas.SecondFactorCode)
@recovery.response(200, rs.RecoveryCodes)
def confirm_totp_replacement(body):
    """Confirm your new authenticator app.

    Confirm the new authenticator app with its current code: it replaces the old one, and
    ten new recovery codes (shown only now) replace the old ones. A wrong code: 401
    invalid_second_factor, limited as wrong passwords are; 401 step_up_required when the
    second factor was passed more than 15 minutes ago; 409 second_factor_not_enrolled
    when no replacement was started."""
    account_id, sign_in, _ = sign_in_of_token()
    address = client_address()
    return run(lambda s: identity().confirm_totp_replacement(s, account_id, sign_in,
                                                             body["code"], address),
               commit_on=(domain.SecondFactorRefused,))


@recovery.route("/auth/second-factor/recovery-codes", methods=["POST"])
@require("operator", "school_admin", step_up=True)
@answers(409)
@recovery.response(200, rs.RecoveryCodes)
def regenerate_recovery_codes():
    """Make new recovery codes.

    Ten new recovery codes, shown only now; the earlier ones stop working. Wants the
    second factor passed within 15 minutes (401 step_up_required); 409
    second_factor_not_enrolled without an authenticator app. You are emailed."""
    account_id, sign_in, _ = sign_in_of_token()
    return run(lambda s: identity().regenerate_recovery_codes(s, account_id, sign_in))


@recovery.route("/accounts/<uuid:account_id>/second-factor", methods=["DELETE"])
@require("operator", "school_admin", step_up=True)
@answers(409)
@recovery.arguments(rs.SecondFactorResetQuery, location="query")
@recovery.response(200, rs.SecondFactorReset)
def reset_second_factor(query, account_id):
    """Reset another person's second factor.

    Reset another person's second factor (a lost phone and lost recovery codes): a school
    admin for another admin of the same school, an operator for a school admin or another
    operator; never one's own (409 own_second_factor: replace it instead). The key,
    recovery codes and passkeys go (for staff a passkey is both factors: a passkey-only
    login is reset too), every sign-in of the person ends, and their next sign-in enrols
    a new authenticator app. Recorded in the school's audit trail (GET
    /schools/{id}/second-factor-resets; an operator's: GET
    /accounts/second-factor-resets); the person is emailed. 404 for a login the caller
    may not reset; 409 second_factor_not_enrolled when it has no second factor; 401
    step_up_required when the caller's second factor was passed more than 15 minutes
    ago."""
    principal = current_principal()
    _, sign_in, _ = sign_in_of_token()
    school_id = str(query["school_id"]) if query.get("school_id") else None
    return run(lambda s: identity().reset_second_factor(
        s, principal.account_id, sign_in, principal.role, principal.school_ids,
        str(account_id), school_id))


@recovery.route("/schools/<uuid:school_id>/second-factors", methods=["GET"])
@require("operator", "school_admin")
@recovery.response(200, rs.StaffFactorList)
def school_admin_factors(school_id):
    """The school's admins' second factors.

    The school's admins who accepted, and whether each has a second factor (an
    authenticator app, and how many passkeys; never a key or a code): who may need a
    reset. 404 for another school."""
    school_scope(str(school_id))
    return {"items": run(lambda s: identity().school_admin_factors(s, str(school_id))),
            "next": None}


@recovery.route("/accounts/second-factors", methods=["GET"])
@require("operator")
@recovery.response(200, rs.StaffFactorList)
def operator_factors():
    """The operators' second factors.

    Every operator, and whether each has a second factor (an authenticator app, and how
    many passkeys; never a key or a code): who may need a reset (DELETE
    /accounts/{id}/second-factor, never one's own)."""
    return {"items": run(lambda s: identity().operator_factors(s)), "next": None}


@recovery.route("/schools/<uuid:school_id>/second-factor-resets", methods=["GET"])
@require("operator", "school_admin")
@recovery.response(200, rs.SecondFactorResetList)
def school_second_factor_resets(school_id):
    """The school's audit trail of second factors reset.

    The second factors reset at the school, newest first: whose, by whom (ids: GET
    /schools/{id}/people names them) and when. 404 for another school."""
    school_scope(str(school_id))
    return {"items": run(lambda s: identity().second_factor_resets(s, str(school_id))),
            "next": None}


@recovery.route("/accounts/second-factor-resets", methods=["GET"])
@require("operator")
@recovery.response(200, rs.SecondFactorResetList)
def operator_second_factor_resets():
    """The operators' audit trail of second factors reset.

    Operators' second factors reset by another operator, newest first."""
    return {"items": run(lambda s: identity().second_factor_resets(s, None)),
            "next": None}
