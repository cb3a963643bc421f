"""Request and response schemas of the linking API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.contracts.fields import StrictDate, UuidString


class VerifyRequest(Schema):
    date_of_birth = StrictDate(required=True)


class LinkQuery(Schema):
    student_id = UuidString()
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 100))
    after = UuidString(load_default=None)


class StudentOut(Schema):
    id = fields.String()
    name = fields.String(allow_none=True)


class LinkOut(Schema):
    id = fields.String()
    student = fields.Nested(StudentOut)
    status = fields.String()
    guardian_id = fields.String()       # school admins only
    failed_attempts = fields.Integer()  # school admins only
    has_account = fields.Boolean()      # school admins only


class LinkList(Schema):
    items = fields.List(fields.Nested(LinkOut))
    next = fields.String(allow_none=True)


class StatusOut(Schema):
    status = fields.String()
