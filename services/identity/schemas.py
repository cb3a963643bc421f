"""Request and response schemas of the identity API (marshmallow; OpenAPI via smorest)."""
from __future__ import annotations

from base64 import b64decode
from binascii import Error as Base64Error
from urllib.parse import unquote_plus

from flask import has_request_context, request
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from shared.contracts.fields import SafeEmail, SafeString, StrictBoolean, StrictDate
from shared.pages import page_of

from .domain import ACCOUNT_ROLES

GRANT_FIELDS = {"password": ("email", "password"), "refresh_token": ("refresh_token",),
                "client_credentials": ("client_id", "client_secret")}



def Secret(**kwargs) -> fields.String:  # noqa: N802 - reads like a field class
    """A token or secret we issued (URL-safe, bounded)."""
    return fields.String(validate=validate.Length(min=1, max=300), **kwargs)


class TokenRequest(Schema):
    grant_type = fields.String(required=True, validate=validate.OneOf(tuple(GRANT_FIELDS)))
    # The role to act in, for a login holding several (password and refresh grants).
    role = fields.String(validate=validate.OneOf(ACCOUNT_ROLES))
    email = fields.String(validate=validate.Length(min=1, max=320))
    password = fields.String(validate=validate.Length(min=1, max=300))
    refresh_token = Secret()
    client_id = Secret()
    client_secret = Secret()
    scope = fields.String(validate=validate.Length(max=300))  # OAuth clients send it; unused

    @pre_load
    def _basic_client(self, data, **_):
        """RFC 6749 2.3.1: a client may authenticate with HTTP Basic (its id and secret
        form-encoded, then base64) instead of the body; not both."""
        header = request.headers.get("Authorization", "") if has_request_context() else ""
        if not header[:6].lower() == "basic ":
            return data
        if "client_id" in data or "client_secret" in data:
            raise ValidationError({"client_id": [
                "Give the client's id and secret once: in the Authorization header or in "
                "the body."]})
        try:
            client_id, _, secret = b64decode(header[6:].strip(), validate=True
                                             ).decode("utf-8").partition(":")
        except (Base64Error, UnicodeDecodeError):
            raise ValidationError({"client_id": [
                "The Authorization header is not Basic base64(id:secret)."]}) from None
        return {**data, "client_id": unquote_plus(client_id),
                "client_secret": unquote_plus(secret)}

    @validates_schema
    def _grant_fields(self, data, **_):
        missing = [f for f in GRANT_FIELDS.get(data.get("grant_type"), ()) if not data.get(f)]
        if missing:
            raise ValidationError({f: ["Required for this grant_type."] for f in missing})


class TokenResponse(Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    refresh_token = fields.String()
    role = fields.String()  # the role this token acts in (password and refresh grants)
    roles = fields.List(fields.String())  # every role the login holds
    # Staff and operators: passed, required (pass it: POST /auth/second-factor) or enrol
    # (POST /auth/second-factor/totp); absent for roles that need none.
    second_factor = fields.String()


class TotpEnrolment(Schema):
    key = fields.String()  # the manual key (base32), shown only here
    uri = fields.String()  # otpauth://totp/...
    qr_svg = fields.String()  # the URI as a QR code, an inline SVG


class SecondFactorCode(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=20))


class SecondFactorPass(Schema):
    """A code of the authenticator app, or one of the recovery codes: exactly one."""
    code = fields.String(validate=validate.Length(min=1, max=20))
    recovery_code = fields.String(validate=validate.Length(min=1, max=40))

    @validates_schema
    def one_of(self, data, **_):
        if ("code" in data) == ("recovery_code" in data):
            raise ValidationError("Give a code or a recovery code.", "code")


class SecondFactorPassed(TokenResponse):
    recovery_codes = fields.List(fields.String())  # on confirming an enrolment only


class RecoveryCodes(Schema):
    recovery_codes = fields.List(fields.String(), required=True, metadata={
        "description": "Ten new single-use recovery codes, shown only now; the earlier "
                       "ones no longer work"})


class SecondFactorResetQuery(Schema):
    # The school the reset is made for (a school admin of several, or an operator choosing
    # which school's audit trail records it); else the one school the two share.
    school_id = fields.UUID(metadata={"description": "The school the reset is made at"})


class SecondFactorReset(Schema):
    id = fields.String(required=True, metadata={"description": "The reset's id"})
    account_id = fields.String(required=True, metadata={
        "description": "The login whose second factor was reset"})
    school_id = fields.String(required=True, allow_none=True, metadata={
        "description": "The school it was reset at (null: an operator's login)"})
    actor_id = fields.String(required=True, metadata={"description": "Who reset it"})
    actor_role = fields.String(required=True, metadata={
        "description": "The role they acted in: school_admin or operator"})
    at = fields.DateTime(required=True, metadata={"description": "When"})


class SecondFactorResetList(Schema):
    items = fields.List(fields.Nested(SecondFactorReset), required=True, metadata={
        "description": "The resets, newest first (the latest 200)"})
    next = fields.String(allow_none=True, metadata={"description": "Always null"})


class StaffFactor(Schema):
    account_id = fields.String(required=True, metadata={"description": "The login"})
    name = fields.String(required=True, metadata={
        "description": "The name the school recorded"})
    email = fields.String(required=True, metadata={"description": "The login's email"})
    second_factor = fields.String(required=True, metadata={
        "description": "enrolled (an authenticator app confirmed), pending (enrolling) "
                       "or none"})
    enrolled_at = fields.DateTime(allow_none=True, metadata={
        "description": "When the authenticator app was confirmed"})


class StaffFactorList(Schema):
    items = fields.List(fields.Nested(StaffFactor), required=True, metadata={
        "description": "The school's admins who accepted, by name"})
    next = fields.String(allow_none=True, metadata={"description": "Always null"})


class InvitationCheck(Schema):
    token = Secret(required=True)


class InvitationStatus(Schema):
    existing_login = fields.Boolean()  # true: accept with the login's own password
    expires_at = fields.DateTime()


class ResendQuery(Schema):
    school_id = fields.UUID()  # the school whose invitation to send again


class ActivateRequest(Schema):
    token = Secret(required=True)
    password = fields.String(required=True, validate=validate.Length(max=300))


class ResetRequest(Schema):
    # Written down until the worker handles it: an address, never arbitrary text (the
    # check does not depend on whether an account uses it).
    email = SafeEmail(required=True, validate=validate.Length(max=320))


class ResetConfirm(Schema):
    token = Secret(required=True)
    password = fields.String(required=True, validate=validate.Length(max=300))


class LogoutRequest(Schema):
    refresh_token = Secret(required=True)


class Authorisation(Schema):
    reference = SafeString(required=True, max_length=200)
    authorised_by = SafeString(required=True, max_length=200)
    date = StrictDate(required=True)


PHONE = validate.Regexp(r"^\+?[0-9][0-9 ()-]{4,40}$",
                        error="Give a phone number: digits, spaces, brackets, dashes and "
                              "an optional leading +, for example 01632 960 123.")


def OfficeEmail() -> SafeEmail:  # noqa: N802 - reads like a field class
    """The school office's email address, shown to its parents; null clears it."""
    return SafeEmail(allow_none=True, validate=validate.Length(max=320))


def OfficePhone() -> SafeString:  # noqa: N802 - reads like a field class
    return SafeString(allow_none=True, max_length=50, validate=PHONE)


class SchoolCreate(Schema):
    name = SafeString(required=True, max_length=200, validate=validate.Length(min=1))
    authorisation = fields.Nested(Authorisation)
    student_accounts = StrictBoolean(load_default=False)
    office_email = OfficeEmail()
    office_phone = OfficePhone()


class SchoolUpdate(Schema):
    name = SafeString(max_length=200, validate=validate.Length(min=1))
    student_accounts = StrictBoolean()
    office_email = OfficeEmail()
    office_phone = OfficePhone()

    @validates_schema
    def _something(self, data, **_):
        if not data:
            raise ValidationError("Give at least one setting to change.")


class SchoolOut(Schema):
    id = fields.String()
    name = fields.String()
    student_accounts = fields.Boolean()
    status = fields.String()
    office_email = fields.String(allow_none=True)
    office_phone = fields.String(allow_none=True)


class SchoolContact(Schema):
    """A school the signed-in person belongs to: its name and its office's contact."""
    id = fields.String()
    name = fields.String()
    office_email = fields.String(allow_none=True)
    office_phone = fields.String(allow_none=True)


class StaffInvite(Schema):
    name = SafeString(required=True, max_length=200, validate=validate.Length(min=1))
    # SafeEmail: one line, no control characters (a quoted local part may hold a TAB,
    # which the InvitationIssued contract refuses: that was a 500).
    email = SafeEmail(required=True, validate=validate.Length(max=320))
    role = fields.String(required=True, validate=validate.OneOf(("school_admin",)))


class IdOut(Schema):
    id = fields.String()


class ClientOut(Schema):
    client_id = fields.String()
    client_secret = fields.String()


class InvitationOut(Schema):
    expires_at = fields.DateTime()


class MeOut(Schema):
    id = fields.String()
    role = fields.String()  # the role the token acts in
    roles = fields.List(fields.String())  # every role the login holds
    school_ids = fields.List(fields.String())
    name = fields.String(allow_none=True)
    email = fields.String()
    student_ids = fields.List(fields.String())  # a student account's own student record
    schools = fields.List(fields.Nested(SchoolContact))  # each of school_ids, by name


# --- the operator's console: schools with their authorisation, admins and clients ----------
class AuthorisationOut(Schema):
    reference = fields.String(allow_none=True)
    authorised_by = fields.String(allow_none=True)  # erased when the school is offboarded
    date = fields.Date(allow_none=True)


class SchoolView(Schema):
    id = fields.String()
    name = fields.String()
    status = fields.String()  # active | offboarding | offboarded
    student_accounts = fields.Boolean()
    office_email = fields.String(allow_none=True)
    office_phone = fields.String(allow_none=True)
    authorisation = fields.Nested(AuthorisationOut, allow_none=True)
    created_at = fields.DateTime()
    offboarded_at = fields.DateTime(allow_none=True)


SchoolList = page_of(SchoolView, "SchoolList")


class SchoolAdminOut(Schema):
    """A school admin's account, shown to operators only: they run the onboarding."""
    id = fields.String()
    name = fields.String()
    email = fields.String()
    status = fields.String()  # invited | active
    invited_at = fields.DateTime()
    activated_at = fields.DateTime(allow_none=True)


class ClientInfo(Schema):
    """A school-system client: never its secret (only its hash is kept)."""
    client_id = fields.String()
    created_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)


class SchoolDetail(SchoolView):
    admins = fields.List(fields.Nested(SchoolAdminOut))
    clients = fields.List(fields.Nested(ClientInfo))


# --- a school admin's console: the names of the school's own people (issue 24) -------------
class PeopleQuery(Schema):
    """Ids to name, each kind repeatable (`?account_id=…&account_id=…`); 100 in all."""
    account_id = fields.List(fields.UUID(), load_default=list)
    guardian_id = fields.List(fields.UUID(), load_default=list)
    student_id = fields.List(fields.UUID(), load_default=list)

    @validates_schema
    def _bounded(self, data, **_):
        from .people import MAX_IDS
        count = sum(len(data.get(k) or ()) for k in ("account_id", "guardian_id",
                                                      "student_id"))
        if count > MAX_IDS:
            raise ValidationError(f"At most {MAX_IDS} ids in one lookup.", "account_id")


class PersonOut(Schema):
    account_id = fields.String()
    role = fields.String()  # at this school: school_admin, parent, student
    guardian_id = fields.String(allow_none=True)  # the school's guardian record, a parent's
    student_id = fields.String(allow_none=True)  # the school's student record, a student's
    name = fields.String()  # as this school recorded it


PersonList = page_of(PersonOut, "PersonList")


class Activated(Schema):
    """The answer to an accepted invitation."""
    status = fields.String(required=True, metadata={"description": "Always `active`"})
    account_id = fields.String(required=True, metadata={"description": "The account's id"})


class StatusOut(Schema):
    """An answer saying what was done: `reset` (a password), `offboarding` (a school)."""
    status = fields.String(required=True, metadata={"description": "What was done"})
