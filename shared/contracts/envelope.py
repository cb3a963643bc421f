"""The one envelope every integration event travels in (DESIGN.md "Events")."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from .fields import SafeString, UtcDateTime, UuidString


class EnvelopeSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # tolerant reader

    id = UuidString(required=True)
    type = fields.String(required=True, validate=validate.Regexp(r"^[A-Z][A-Za-z]{1,99}$"))
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    occurred_at = UtcDateTime(required=True)
    producer = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z_]{1,39}$"))
    school_id = UuidString(required=True, allow_none=True)
    correlation_id = SafeString(required=True, max_length=100)
    data = fields.Dict(keys=fields.String(), required=True)
