"""Request and response schemas of identity's second-factor changes and recovery
(recovery_api.py, issue 25)."""
from __future__ import annotations

from marshmallow import Schema, fields


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
    passkeys = fields.Integer(required=True, metadata={
        "description": "How many of the login's passkeys count for staff (added as staff "
                       "with a fresh second factor; for staff such a passkey is both "
                       "factors: a login with one has a second factor to reset). One "
                       "added while the login was only a parent's is not counted: it "
                       "signs in to the parent role alone"})


class StaffFactorList(Schema):
    items = fields.List(fields.Nested(StaffFactor), required=True, metadata={
        "description": "The logins (the school's admins who accepted, or the operators), "
                       "by name"})
    next = fields.String(allow_none=True, metadata={"description": "Always null"})
