"""Request and response schemas of the reports API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.contracts.fields import SafeString, UtcDateTime, UuidString

from .service import MAX_PAGE


class PublishRequest(Schema):
    period = SafeString(required=True, max_length=100, validate=validate.Length(min=1))
    title = SafeString(required=True, max_length=200, validate=validate.Length(min=1))
    visible_from = UtcDateTime(load_default=None)
    school_id = UuidString()  # only needed by an admin of several schools


class PublishResult(Schema):
    published = fields.Integer()


class Page(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(1, MAX_PAGE))
    after = UuidString(load_default=None)


class ReportSummary(Schema):
    id = fields.String()
    period = fields.String()
    title = fields.String()
    published_at = fields.DateTime()


class ReportList(Schema):
    items = fields.List(fields.Nested(ReportSummary))
    next = fields.String(allow_none=True)


class StudentOut(Schema):
    id = fields.String()
    name = fields.String(allow_none=True)
    form_group = fields.String(allow_none=True)


class Attainment(Schema):
    kind = fields.String()
    value = fields.String()
    out_of = fields.Float()
    topic = fields.String()


class Characteristic(Schema):
    kind = fields.String()
    value = fields.String()


class SubjectOut(Schema):
    subject = fields.String()
    # "class" is a Python keyword: the field is named on the wire by data_key.
    class_ = fields.String(data_key="class", attribute="class", allow_none=True)
    teachers = fields.List(fields.String())
    attainment = fields.List(fields.Nested(Attainment))
    characteristics = fields.List(fields.Nested(Characteristic))


class ReportOut(Schema):
    id = fields.String()
    student = fields.Nested(StudentOut)
    period = fields.String()
    title = fields.String()
    published_at = fields.DateTime()
    subjects = fields.List(fields.Nested(SubjectOut))
