"""Request and response schemas of the identity API (marshmallow; OpenAPI via smorest)."""
from __future__ import annotations

from base64 import b64decode
from binascii import Error as Base64Error
from urllib.parse import unquote_plus

from flask import has_request_context, request
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from shared.contracts.fields import SafeEmail, SafeString, StrictBoolean, StrictDate
from shared.i18n import LANGUAGES
from shared.pages import page_of

from .domain import ACCOUNT_ROLES

GRANT_FIELDS = {"password": ("email", "password"), "refresh_token": ("refresh_token",),
                "client_credentials": ("client_id", "client_secret")}



def Secret(**kwargs) -> fields.String:  # noqa: N802 - reads like a field class
    """A token or secret we issued (URL-safe, bounded)."""
    return fields.String(validate=validate.Length(min=1, max=300), **kwargs)


class TokenRequest(Schema):
    grant_type = fields.String(required=True, validate=validate.OneOf(tuple(GRANT_FIELDS)),
                               metadata={"description": "password, refresh_token or "
                                                        "client_credentials."})
    # The role to act in, for a login holding several (password and refresh grants).
    role = fields.String(validate=validate.OneOf(ACCOUNT_ROLES), metadata={
        "description": "The role to act in, for a login of several roles (password, refresh)."})
    email = fields.String(validate=validate.Length(min=1, max=320), metadata={
        "description": "The login's email (password grant)."})
    password = fields.String(validate=validate.Length(min=1, max=300), metadata={
        "description": "The login's password (password grant)."})
    refresh_token = Secret(metadata={
        "description": "A refresh token of the sign-in (refresh grant)."})
    client_id = Secret(metadata={
        "description": "The school-system client's id (client grant; or HTTP Basic)."})
    client_secret = Secret(metadata={
        "description": "The client's secret (client grant; or HTTP Basic)."})
    scope = fields.String(validate=validate.Length(max=300), metadata={
        "description": "Sent by some OAuth clients; ignored."})  # OAuth clients send it; unused

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
    access_token = fields.String(required=True, metadata={
        "description": "The access token (a JWT): send it as `Authorization: Bearer`."})
    token_type = fields.String(required=True, metadata={"description": "Always `Bearer`."})
    expires_in = fields.Integer(required=True, metadata={
        "description": "Seconds until the access token expires."})
    refresh_token = fields.String(metadata={
        "description": "A new refresh token (password and refresh grants); the old one is spent."})
    role = fields.String(metadata={
        "description": "The role this token acts in (not for a client)."})
    roles = fields.List(fields.String(), metadata={
        "description": "Every role the login holds (not for a client)."})
    # Staff and operators: passed, required (pass it: POST /auth/second-factor), passkey
    # (only a passkey: sign in with it) or enrol (POST /auth/second-factor/totp); absent
    # for roles that need none.
    second_factor = fields.String(metadata={
        "description": "Staff and operators: `passed`, `required`, `passkey` (the login's "
                       "only second factor is a passkey: sign in with it; no "
                       "authenticator app can be enrolled from this sign-in) or `enrol`; "
                       "else absent."})


class TotpEnrolment(Schema):
    key = fields.String(required=True, metadata={
        "description": "The manual key (base32), shown only now."})
    uri = fields.String(required=True, metadata={
        "description": "The otpauth:// URI an authenticator app takes."})  # otpauth://totp/...
    qr_svg = fields.String(required=True, metadata={
        "description": "The URI as a QR code, an inline SVG."})


class SecondFactorCode(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=20), metadata={
        "description": "The authenticator app's current code."})


class SecondFactorPass(Schema):
    """A code of the authenticator app, or one of the recovery codes: exactly one."""
    code = fields.String(validate=validate.Length(min=1, max=20), metadata={
        "description": "The authenticator app's current code (or give recovery_code)."})
    recovery_code = fields.String(validate=validate.Length(min=1, max=40), metadata={
        "description": "An unused recovery code (or give code)."})

    @validates_schema
    def one_of(self, data, **_):
        if ("code" in data) == ("recovery_code" in data):
            raise ValidationError("Give a code or a recovery code.", "code")


class SecondFactorPassed(TokenResponse):
    recovery_codes = fields.List(fields.String(), metadata={
        "description": "Ten single-use recovery codes, shown only on confirming an enrolment."})


class InvitationCheck(Schema):
    token = Secret(required=True, metadata={
        "description": "The invitation's token, from the emailed link."})


class InvitationStatus(Schema):
    existing_login = fields.Boolean(required=True, metadata={
        "description": "True: accept with the login's own password; false: set one."})
    expires_at = fields.DateTime(required=True, metadata={
        "description": "When the invitation stops working."})


class ResendQuery(Schema):
    school_id = fields.UUID(metadata={"description": "The school whose invitation to send again."})


def Language(**kwargs) -> fields.String:  # noqa: N802 - reads like a field class
    """A language of ours (shared/i18n.LANGUAGES): "en" or "cy"."""
    return fields.String(validate=validate.OneOf(LANGUAGES), **kwargs)


class ActivateRequest(Schema):
    token = Secret(required=True, metadata={
        "description": "The invitation's token, from the emailed link."})
    password = fields.String(required=True, validate=validate.Length(max=300), metadata={
        "description": "A new login's password, or an existing login's own."})
    language = Language(metadata={
        "description": "The language the person chose on the activation page: `en` "
                       "(English) or `cy` (Cymraeg); every email to them is in it. Omitted: "
                       "not chosen (emails are bilingual, the school's default first)."})


class LanguageChoice(Schema):
    language = Language(required=True, metadata={
        "description": "`en` (English) or `cy` (Cymraeg): the app's and every email's."})


class LanguageOut(Schema):
    language = fields.String(required=True, metadata={
        "description": "The language now recorded: `en` or `cy`."})


class ResetRequest(Schema):
    # Written down until the worker handles it: an address, never arbitrary text (the
    # check does not depend on whether an account uses it).
    email = SafeEmail(required=True, validate=validate.Length(max=320), metadata={
        "description": "The login's email."})


class ResetConfirm(Schema):
    token = Secret(required=True, metadata={
        "description": "The reset token, from the emailed link."})
    password = fields.String(required=True, validate=validate.Length(max=300), metadata={
        "description": "The new password."})


class LogoutRequest(Schema):
    refresh_token = Secret(required=True, metadata={"description": "The sign-in's refresh token."})


class Authorisation(Schema):
    reference = SafeString(required=True, max_length=200, metadata={
        "description": "The school's authorisation reference (e.g. a contract number)."})
    authorised_by = SafeString(required=True, max_length=200, metadata={
        "description": "Who authorised it at the school."})
    date = StrictDate(required=True, metadata={"description": "When it was authorised."})


PHONE = validate.Regexp(r"^\+?[0-9][0-9 ()-]{4,40}$",
                        error="Give a phone number: digits, spaces, brackets, dashes and "
                              "an optional leading +, for example 01632 960 123.")


def OfficeEmail(**kwargs) -> SafeEmail:  # noqa: N802 - reads like a field class
    """The school office's email address, shown to its parents; null clears it."""
    return SafeEmail(allow_none=True, validate=validate.Length(max=320), **kwargs)


def OfficePhone(**kwargs) -> SafeString:  # noqa: N802 - reads like a field class
    return SafeString(allow_none=True, max_length=50, validate=PHONE, **kwargs)


class SchoolCreate(Schema):
    name = SafeString(required=True, max_length=200, validate=validate.Length(min=1), metadata={
        "description": "The school's name."})
    authorisation = fields.Nested(Authorisation, metadata={
        "description": "The school's authorisation to use the service."})
    student_accounts = StrictBoolean(load_default=False, metadata={
        "description": "Whether students get accounts of their own (default false)."})
    office_email = OfficeEmail(metadata={
        "description": "The school office's email, shown to its parents."})
    office_phone = OfficePhone(metadata={
        "description": "The school office's phone number, shown to its parents."})
    default_language = Language(load_default="en", metadata={
        "description": "The language the school writes to families in first: `en` "
                       "(default) or `cy` (a Welsh-medium school)."})


class SchoolUpdate(Schema):
    name = SafeString(max_length=200, validate=validate.Length(min=1), metadata={
        "description": "The school's new name."})
    student_accounts = StrictBoolean(metadata={
        "description": "Whether students get accounts of their own."})
    office_email = OfficeEmail(metadata={
        "description": "The school office's email; null clears it."})
    office_phone = OfficePhone(metadata={
        "description": "The school office's phone number; null clears it."})
    default_language = Language(metadata={
        "description": "The language the school writes to families in first: `en` or `cy`."})

    @validates_schema
    def _something(self, data, **_):
        if not data:
            raise ValidationError("Give at least one setting to change.")


class SchoolOut(Schema):
    id = fields.String(required=True, metadata={"description": "The school's id."})
    name = fields.String(required=True, metadata={"description": "The school's name."})
    student_accounts = fields.Boolean(required=True, metadata={
        "description": "Whether students get accounts of their own."})
    status = fields.String(required=True, metadata={
        "description": "active, offboarding or offboarded."})
    office_email = fields.String(allow_none=True, required=True, metadata={
        "description": "The school office's email, or null."})
    office_phone = fields.String(allow_none=True, required=True, metadata={
        "description": "The school office's phone number, or null."})
    default_language = fields.String(required=True, metadata={
        "description": "The language the school writes to families in first: `en` or `cy`."})


class SchoolContact(Schema):
    """A school the signed-in person belongs to: its name and its office's contact."""
    id = fields.String(required=True, metadata={"description": "The school's id."})
    name = fields.String(required=True, metadata={"description": "The school's name."})
    office_email = fields.String(allow_none=True, required=True, metadata={
        "description": "The school office's email, or null."})
    office_phone = fields.String(allow_none=True, required=True, metadata={
        "description": "The school office's phone number, or null."})


class StaffInvite(Schema):
    name = SafeString(required=True, max_length=200, validate=validate.Length(min=1), metadata={
        "description": "The person's name."})
    # SafeEmail: one line, no control characters (a quoted local part may hold a TAB,
    # which the InvitationIssued contract refuses: that was a 500).
    email = SafeEmail(required=True, validate=validate.Length(max=320), metadata={
        "description": "Where the invitation is sent."})
    role = fields.String(required=True, validate=validate.OneOf(("school_admin",)), metadata={
        "description": "The staff role: school_admin."})


class IdOut(Schema):
    id = fields.String(required=True, metadata={"description": "The new object's id."})


class ClientOut(Schema):
    client_id = fields.String(required=True, metadata={"description": "The client's id."})
    client_secret = fields.String(required=True, metadata={
        "description": "The client's secret, shown only now."})


class InvitationOut(Schema):
    expires_at = fields.DateTime(required=True, metadata={
        "description": "When the new invitation stops working."})


class MeOut(Schema):
    id = fields.String(required=True, metadata={
        "description": "The account's id (a client's id for a school system)."})
    role = fields.String(required=True, metadata={"description": "The role the token acts in."})
    roles = fields.List(fields.String(), required=True, metadata={
        "description": "Every role the login holds."})  # every role the login holds
    school_ids = fields.List(fields.String(), required=True, metadata={
        "description": "The schools the account belongs to in this role."})
    name = fields.String(allow_none=True, required=True, metadata={
        "description": "The account's name, or null."})
    email = fields.String(required=True, allow_none=True, metadata={
        "description": "The login's email (null for a school system)."})
    language = fields.String(required=True, allow_none=True, metadata={
        "description": "The language the person chose, `en` or `cy`; null when not chosen "
                       "(issue 29; change it with PATCH /api/v1/me)."})
    student_ids = fields.List(fields.String(), metadata={
        "description": "A student account's own student record."})
    schools = fields.List(fields.Nested(SchoolContact), metadata={
        "description": "Each of school_ids, with its name and office contact."})


# --- the operator's console: schools with their authorisation, admins and clients ----------
class AuthorisationOut(Schema):
    reference = fields.String(allow_none=True, required=True, metadata={
        "description": "The authorisation reference, or null."})
    authorised_by = fields.String(allow_none=True, required=True, metadata={
        "description": "Who authorised it (erased when the school is offboarded)."})
    date = fields.Date(allow_none=True, required=True, metadata={
        "description": "When it was authorised, or null."})


class SchoolView(Schema):
    id = fields.String(required=True, metadata={"description": "The school's id."})
    name = fields.String(required=True, metadata={"description": "The school's name."})
    status = fields.String(required=True, metadata={
        "description": "active, offboarding or offboarded."})  # active | offboarding | offboarded
    student_accounts = fields.Boolean(required=True, metadata={
        "description": "Whether students get accounts of their own."})
    office_email = fields.String(allow_none=True, required=True, metadata={
        "description": "The school office's email, or null."})
    office_phone = fields.String(allow_none=True, required=True, metadata={
        "description": "The school office's phone number, or null."})
    default_language = fields.String(required=True, metadata={
        "description": "The language the school writes to families in first: `en` or `cy`."})
    authorisation = fields.Nested(AuthorisationOut, allow_none=True, required=True, metadata={
        "description": "The school's authorisation, or null when none was recorded."})
    created_at = fields.DateTime(required=True, metadata={
        "description": "When the school was created."})
    offboarded_at = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "When it was offboarded, or null."})


SchoolList = page_of(SchoolView, "SchoolList")


class SchoolAdminOut(Schema):
    """A school admin's account, shown to operators only: they run the onboarding."""
    id = fields.String(required=True, metadata={"description": "The admin's account id."})
    name = fields.String(required=True, metadata={"description": "The admin's name."})
    email = fields.String(required=True, metadata={"description": "The admin's email."})
    status = fields.String(required=True, metadata={"description": "invited or active."})
    invited_at = fields.DateTime(required=True, metadata={
        "description": "When they were invited."})
    activated_at = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "When they accepted, or null."})


class ClientInfo(Schema):
    """A school-system client: never its secret (only its hash is kept)."""
    client_id = fields.String(required=True, metadata={"description": "The client's id."})
    created_at = fields.DateTime(required=True, metadata={"description": "When it was created."})
    revoked_at = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "When it was revoked, or null."})


class SchoolDetail(SchoolView):
    admins = fields.List(fields.Nested(SchoolAdminOut), required=True, metadata={
        "description": "The school's admins."})
    clients = fields.List(fields.Nested(ClientInfo), required=True, metadata={
        "description": "The school's school-system clients (never a secret)."})


# --- a school admin's console: the names of the school's own people (issue 24) -------------
class PeopleQuery(Schema):
    """Ids to name, each kind repeatable (`?account_id=…&account_id=…`); 100 in all."""
    account_id = fields.List(fields.UUID(), load_default=list, metadata={
        "description": "Logins to name (repeatable)."})
    guardian_id = fields.List(fields.UUID(), load_default=list, metadata={
        "description": "Guardian records to name (repeatable)."})
    student_id = fields.List(fields.UUID(), load_default=list, metadata={
        "description": "Student records to name (repeatable)."})

    @validates_schema
    def _bounded(self, data, **_):
        from .people import MAX_IDS
        count = sum(len(data.get(k) or ()) for k in ("account_id", "guardian_id",
                                                      "student_id"))
        if count > MAX_IDS:
            raise ValidationError(f"At most {MAX_IDS} ids in one lookup.", "account_id")


class PersonOut(Schema):
    account_id = fields.String(required=True, metadata={"description": "The person's login."})
    role = fields.String(required=True, metadata={
        "description": "Their role at this school: school_admin, parent or student."})
    guardian_id = fields.String(allow_none=True, required=True, metadata={
        "description": "A parent's guardian record, else null."})
    student_id = fields.String(allow_none=True, required=True, metadata={
        "description": "A student's student record, else null."})
    name = fields.String(required=True, metadata={"description": "The name this school recorded."})


PersonList = page_of(PersonOut, "PersonList")


class Activated(Schema):
    """The answer to an accepted invitation."""
    status = fields.String(required=True, metadata={"description": "Always `active`"})
    account_id = fields.String(required=True, metadata={"description": "The account's id"})


class StatusOut(Schema):
    """An answer saying what was done: `reset` (a password), `offboarding` (a school)."""
    status = fields.String(required=True, metadata={"description": "What was done"})


class ResetDone(StatusOut):
    """A password reset done: `reset`, and the passkeys it removed."""
    passkeys_removed = fields.Integer(required=True, metadata={
        "description": "How many of the login's passkeys the reset removed: all but those "
                       "that count for staff (added with a fresh second factor)."})


class JwkOut(Schema):
    """One public key (RFC 8037: an Ed25519 key)."""
    kty = fields.String(required=True, metadata={"description": "`OKP`."})
    crv = fields.String(required=True, metadata={"description": "`Ed25519`."})
    x = fields.String(required=True, metadata={"description": "The public key, base64url."})
    kid = fields.String(required=True, metadata={
        "description": "The key's id: a token's `kid` header names it."})
    alg = fields.String(required=True, metadata={"description": "`EdDSA`."})
    use = fields.String(required=True, metadata={"description": "`sig`."})


class JwksOut(Schema):
    keys = fields.List(fields.Nested(JwkOut), required=True, metadata={
        "description": "Every key a token may be signed with now."})
