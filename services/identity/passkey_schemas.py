"""The passkey API's request and answer schemas (passkeys_api.py): WebAuthn's JSON forms
(Level 3), their binary members as base64url strings. Members a browser may add that
identity does not read are dropped (EXCLUDE), not refused."""
from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from shared.contracts.fields import SafeString

from .domain import ACCOUNT_ROLES


def _d(text: str, **kwargs: Any) -> dict[str, Any]:
    return {"metadata": {"description": text}, **kwargs}


def _b64(max_length: int, text: str, **kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_length),
                         **_d(text + " (base64url)"), **kwargs)


# --- answers: the options for the browser -------------------------------------------------
class RpEntity(Schema):
    id = fields.String(required=True, **_d("The relying party's id: the site's domain."))
    name = fields.String(required=True, **_d("The name authenticators show."))


class UserEntity(Schema):
    id = fields.String(required=True, **_d("The user handle: the login's id (base64url)."))
    name = fields.String(required=True, **_d("The login's email, shown by the device."))
    displayName = fields.String(required=True, **_d("The same, to display."))


class CredentialParameter(Schema):
    type = fields.String(required=True, **_d("Always `public-key`."))
    alg = fields.Integer(required=True, **_d("A COSE algorithm: -8 EdDSA, -7 ES256, "
                                             "-257 RS256."))


class CredentialDescriptor(Schema):
    id = fields.String(required=True, **_d("A credential id (base64url)."))
    type = fields.String(required=True, **_d("Always `public-key`."))
    transports = fields.List(fields.String(), **_d("How the authenticator is reached."))


class AuthenticatorSelection(Schema):
    residentKey = fields.String(required=True, **_d("Always `required`: a discoverable "
                                                    "credential."))
    requireResidentKey = fields.Boolean(required=True, **_d("Always true."))
    userVerification = fields.String(required=True, **_d("Always `required`."))
    authenticatorAttachment = fields.String(**_d("Not set: any authenticator."))


class CreationOptions(Schema):
    """PublicKeyCredentialCreationOptionsJSON."""
    rp = fields.Nested(RpEntity, required=True, **_d("The relying party."))
    user = fields.Nested(UserEntity, required=True, **_d("The signed-in login."))
    challenge = fields.String(required=True, **_d("The challenge (base64url)."))
    pubKeyCredParams = fields.List(fields.Nested(CredentialParameter), required=True,
                                   **_d("The algorithms accepted, preferred first."))
    timeout = fields.Integer(required=True, **_d("Milliseconds the challenge lives."))
    excludeCredentials = fields.List(fields.Nested(CredentialDescriptor), required=True,
                                     **_d("The login's passkeys already there."))
    authenticatorSelection = fields.Nested(AuthenticatorSelection, required=True,
                                           **_d("What the authenticator must do."))
    attestation = fields.String(required=True, **_d("Always `none`."))


class RequestOptions(Schema):
    """PublicKeyCredentialRequestOptionsJSON."""
    challenge = fields.String(required=True, **_d("The challenge (base64url)."))
    timeout = fields.Integer(required=True, **_d("Milliseconds the challenge lives."))
    rpId = fields.String(required=True, **_d("The relying party's id."))
    allowCredentials = fields.List(fields.Nested(CredentialDescriptor), required=True,
                                   **_d("Always empty: the device offers its passkeys."))
    userVerification = fields.String(required=True, **_d("Always `required`."))


class PasskeyCreation(Schema):
    """A single-use challenge (valid five minutes) and the options for the browser's
    navigator.credentials.create()."""
    challenge_id = fields.String(required=True, **_d("Send it back with the answer."))
    options = fields.Nested(CreationOptions, required=True,
                            **_d("For navigator.credentials.create()."))


class PasskeyRequest(Schema):
    """A single-use challenge (valid five minutes) and the options for the browser's
    navigator.credentials.get()."""
    challenge_id = fields.String(required=True, **_d("Send it back with the answer."))
    options = fields.Nested(RequestOptions, required=True,
                            **_d("For navigator.credentials.get()."))


class PasskeyOut(Schema):
    """A passkey as its owner sees it: never its credential id or public key."""
    id = fields.String(required=True, **_d("The passkey's id (to remove it)."))
    name = fields.String(required=True, **_d("The name its owner gave it."))
    created_at = fields.DateTime(required=True, **_d("When it was added."))
    last_used_at = fields.DateTime(required=True, allow_none=True,
                                   **_d("When it last signed in; null: never."))


class PasskeyList(Schema):
    items = fields.List(fields.Nested(PasskeyOut), required=True,
                        **_d("The login's passkeys, oldest first."))


# --- requests: the browser's answers ----------------------------------------------------
class CredProps(Schema):
    class Meta:
        unknown = EXCLUDE
    rk = fields.Boolean(**_d("Whether the credential is discoverable."))


class ExtensionResults(Schema):
    class Meta:
        unknown = EXCLUDE
    credProps = fields.Nested(CredProps, **_d("The credProps extension's result."))


class AttestationResponse(Schema):
    class Meta:
        unknown = EXCLUDE
    clientDataJSON = _b64(4000, "The client data", required=True)
    attestationObject = _b64(12000, "The attestation object", required=True)
    transports = fields.List(fields.String(validate=validate.Length(max=20)),
                             validate=validate.Length(max=10),
                             **_d("How the authenticator is reached."))


class AssertionResponse(Schema):
    class Meta:
        unknown = EXCLUDE
    clientDataJSON = _b64(4000, "The client data", required=True)
    authenticatorData = _b64(4000, "The authenticator data", required=True)
    signature = _b64(2000, "The signature", required=True)
    userHandle = fields.String(allow_none=True, validate=validate.Length(max=200),
                               **_d("The user handle, the login's id (base64url)."))


class _Credential(Schema):
    class Meta:
        unknown = EXCLUDE
    id = _b64(1400, "The credential id", required=True)
    rawId = _b64(1400, "The credential id again", required=True)
    type = fields.String(required=True, validate=validate.Equal("public-key"),
                         **_d("Always `public-key`."))
    clientExtensionResults = fields.Nested(ExtensionResults,
                                           **_d("The extensions' results."))
    authenticatorAttachment = fields.String(allow_none=True,
                                            validate=validate.Length(max=30),
                                            **_d("`platform` or `cross-platform`."))


class RegistrationCredential(_Credential):
    """RegistrationResponseJSON: PublicKeyCredential.toJSON() of a new passkey."""
    response = fields.Nested(AttestationResponse, required=True,
                             **_d("The authenticator's attestation."))


class AuthenticationCredential(_Credential):
    """AuthenticationResponseJSON: PublicKeyCredential.toJSON() of an assertion."""
    response = fields.Nested(AssertionResponse, required=True,
                             **_d("The authenticator's assertion."))


class PasskeyBegin(Schema):
    """The login's password, asked again before adding a passkey (not needed within 15
    minutes of passing a second factor)."""
    password = fields.String(validate=validate.Length(min=1, max=300), load_only=True,
                             **_d("The login's password, unless a second factor was "
                                  "given within 15 minutes."))


class PasskeyRemoval(PasskeyBegin):
    """The login's password, asked again before removing a passkey, as before adding one
    (not needed within 15 minutes of passing a second factor)."""


class PasskeyRegister(Schema):
    challenge_id = fields.UUID(required=True, **_d("From the registration's begin."))
    name = SafeString(required=True, validate=validate.Length(min=1, max=60),
                      **_d("A name to tell the passkey apart, 1 to 60 characters."))
    credential = fields.Nested(RegistrationCredential, required=True,
                               **_d("What navigator.credentials.create() gave."))


class PasskeySignIn(Schema):
    challenge_id = fields.UUID(required=True, **_d("From the sign-in's begin."))
    credential = fields.Nested(AuthenticationCredential, required=True,
                               **_d("What navigator.credentials.get() gave."))
    role = fields.String(validate=validate.OneOf(ACCOUNT_ROLES),
                         **_d("The role to act in; else the login's default."))
