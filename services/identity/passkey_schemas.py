"""Passkey (WebAuthn) request and response schemas of the identity API: WebAuthn's JSON
forms (Level 3), each field described for the OpenAPI document."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from shared.contracts.fields import SafeString

from .domain import ACCOUNT_ROLES


# --- passkeys (WebAuthn) -----------------------------------------------------------------
# WebAuthn's JSON forms (Level 3): binary members as base64url strings. Members a browser
# may add that identity does not read are dropped (EXCLUDE), not refused.
def _b64(max_length: int, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


class RpEntity(Schema):
    id = fields.String(required=True, metadata={
        "description": "The relying party's id: the site's domain."})
    name = fields.String(required=True, metadata={
        "description": "The relying party's name, as the browser shows it."})


class UserEntity(Schema):
    id = fields.String(required=True, metadata={
        "description": "The login's WebAuthn user handle, base64url."})
    name = fields.String(required=True, metadata={"description": "The login's email."})
    displayName = fields.String(required=True, metadata={
        "description": "The login's name, as the browser shows it."})


class CredentialParameter(Schema):
    type = fields.String(required=True, metadata={"description": "`public-key`."})
    alg = fields.Integer(required=True, metadata={
        "description": "A COSE algorithm accepted (e.g. -8 EdDSA, -7 ES256)."})


class CredentialDescriptor(Schema):
    id = fields.String(required=True, metadata={"description": "A credential's id, base64url."})
    type = fields.String(required=True, metadata={"description": "`public-key`."})
    transports = fields.List(fields.String(), metadata={
        "description": "How the browser may reach it (usb, nfc, ble, internal, hybrid)."})


class AuthenticatorSelection(Schema):
    residentKey = fields.String(metadata={
        "description": "Whether a discoverable credential is wanted."})
    requireResidentKey = fields.Boolean(metadata={"description": "The same, for older browsers."})
    userVerification = fields.String(metadata={
        "description": "Whether the authenticator must verify the user."})
    authenticatorAttachment = fields.String(metadata={
        "description": "platform or cross-platform, when asked."})


class CreationOptions(Schema):
    """PublicKeyCredentialCreationOptionsJSON."""
    rp = fields.Nested(RpEntity, required=True, metadata={
        "description": "Who asks: the relying party."})
    user = fields.Nested(UserEntity, required=True, metadata={
        "description": "The login the passkey is for."})
    challenge = fields.String(required=True, metadata={
        "description": "The challenge to sign, base64url."})
    pubKeyCredParams = fields.List(fields.Nested(CredentialParameter), required=True, metadata={
        "description": "The algorithms accepted, preferred first."})
    timeout = fields.Integer(metadata={"description": "Milliseconds the browser may take."})
    excludeCredentials = fields.List(fields.Nested(CredentialDescriptor), metadata={
        "description": "The login's passkeys already registered."})
    authenticatorSelection = fields.Nested(AuthenticatorSelection, metadata={
        "description": "What kind of authenticator is wanted."})
    attestation = fields.String(metadata={"description": "The attestation wanted (none)."})


class RequestOptions(Schema):
    """PublicKeyCredentialRequestOptionsJSON."""
    challenge = fields.String(required=True, metadata={
        "description": "The challenge to sign, base64url."})
    timeout = fields.Integer(metadata={"description": "Milliseconds the browser may take."})
    rpId = fields.String(metadata={"description": "The relying party's id."})
    allowCredentials = fields.List(fields.Nested(CredentialDescriptor), metadata={
        "description": "The passkeys that may answer (empty: any discoverable one)."})
    userVerification = fields.String(metadata={
        "description": "Whether the authenticator must verify the user."})


class PasskeyCreation(Schema):
    """A single-use challenge (valid five minutes) and the options for the browser's
    navigator.credentials.create()."""
    challenge_id = fields.String(required=True, metadata={
        "description": "The challenge's id: send it back with the credential."})
    options = fields.Nested(CreationOptions, required=True, metadata={
        "description": "For navigator.credentials.create()."})


class PasskeyRequest(Schema):
    """A single-use challenge (valid five minutes) and the options for the browser's
    navigator.credentials.get()."""
    challenge_id = fields.String(required=True, metadata={
        "description": "The challenge's id: send it back with the credential."})
    options = fields.Nested(RequestOptions, required=True, metadata={
        "description": "For navigator.credentials.get()."})


class CredProps(Schema):
    class Meta:
        unknown = EXCLUDE
    rk = fields.Boolean(metadata={"description": "Whether the credential is discoverable."})


class ExtensionResults(Schema):
    class Meta:
        unknown = EXCLUDE
    credProps = fields.Nested(CredProps, metadata={
        "description": "The credProps extension's result."})


class AttestationResponse(Schema):
    class Meta:
        unknown = EXCLUDE
    clientDataJSON = _b64(4000, required=True, metadata={
        "description": "The client data, base64url."})
    attestationObject = _b64(12000, required=True, metadata={
        "description": "The attestation object, base64url."})
    transports = fields.List(fields.String(validate=validate.Length(max=20)),
                             validate=validate.Length(max=10), metadata={
        "description": "How the browser may reach the authenticator."})


class AssertionResponse(Schema):
    class Meta:
        unknown = EXCLUDE
    clientDataJSON = _b64(4000, required=True, metadata={
        "description": "The client data, base64url."})
    authenticatorData = _b64(4000, required=True, metadata={
        "description": "The authenticator data, base64url."})
    signature = _b64(2000, required=True, metadata={
        "description": "The signature over the challenge, base64url."})
    userHandle = fields.String(allow_none=True,
                               validate=validate.Length(max=200), metadata={
        "description": "The login's user handle, base64url, or null."})


class _Credential(Schema):
    class Meta:
        unknown = EXCLUDE
    id = _b64(1400, required=True, metadata={"description": "The credential's id, base64url."})
    rawId = _b64(1400, required=True, metadata={"description": "The same id, base64url."})
    type = fields.String(required=True, validate=validate.Equal("public-key"), metadata={
        "description": "`public-key`."})
    clientExtensionResults = fields.Nested(ExtensionResults, metadata={
        "description": "The extensions' results."})
    authenticatorAttachment = fields.String(allow_none=True,
                                            validate=validate.Length(max=30), metadata={
        "description": "platform or cross-platform, or null."})


class RegistrationCredential(_Credential):
    """RegistrationResponseJSON: PublicKeyCredential.toJSON() of a new passkey."""
    response = fields.Nested(AttestationResponse, required=True, metadata={
        "description": "The authenticator's attestation."})


class AuthenticationCredential(_Credential):
    """AuthenticationResponseJSON: PublicKeyCredential.toJSON() of an assertion."""
    response = fields.Nested(AssertionResponse, required=True, metadata={
        "description": "The authenticator's assertion."})


class PasskeyRegister(Schema):
    challenge_id = fields.UUID(required=True, metadata={
        "description": "The challenge's id, from POST /auth/passkeys/registration."})
    name = SafeString(required=True, validate=validate.Length(min=1, max=60), metadata={
        "description": "A name for the passkey, for its owner's list."})
    credential = fields.Nested(RegistrationCredential, required=True, metadata={
        "description": "PublicKeyCredential.toJSON() of the new passkey."})


class PasskeySignIn(Schema):
    challenge_id = fields.UUID(required=True, metadata={
        "description": "The challenge's id, from the sign-in options."})
    credential = fields.Nested(AuthenticationCredential, required=True, metadata={
        "description": "PublicKeyCredential.toJSON() of the assertion."})
    role = fields.String(validate=validate.OneOf(ACCOUNT_ROLES), metadata={
        "description": "The role to act in, for a login of several roles."})


class PasskeyOut(Schema):
    """A passkey as its owner sees it: never its credential id or public key."""
    id = fields.String(required=True, metadata={"description": "The passkey's id."})
    name = fields.String(required=True, metadata={"description": "Its name."})
    created_at = fields.DateTime(required=True, metadata={
        "description": "When it was registered."})
    last_used_at = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "When it last signed in, or null."})


class PasskeyList(Schema):
    items = fields.List(fields.Nested(PasskeyOut), required=True, metadata={
        "description": "The login's passkeys."})
