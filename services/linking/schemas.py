"""Request and response schemas of the linking API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.contracts.fields import SafeString, StrictDate, UuidString
from shared.pages import PageQuery, page_of

from .domain import LinkStatus


class VerifyRequest(Schema):
    date_of_birth = StrictDate(required=True)


class LinkQuery(PageQuery):
    student_id = UuidString()


class StudentOut(Schema):
    id = fields.String()
    name = fields.String(allow_none=True)


class LinkOut(Schema):
    id = fields.String()
    student = fields.Nested(StudentOut)
    status = fields.String()
    school_id = fields.String()         # the child's school (GET /me names it)
    # Pending, and the school has not sent the child's date of birth: it cannot be confirmed
    # until the school does (OneRoster's demographics, or a push's date_of_birth).
    waiting_for_date_of_birth = fields.Boolean()
    guardian_id = fields.String()       # school admins only
    failed_attempts = fields.Integer()  # school admins only
    has_account = fields.Boolean()      # school admins only
    # School admins only: the login holding the contact's record, so the console names the
    # parent who filed a request and their relationship to the child (issue 24).
    account_id = fields.String(allow_none=True)
    relationship = fields.String(allow_none=True)  # school admins only: the school's word
    changed_at = fields.DateTime()      # school admins only


LinkList = page_of(LinkOut, "LinkList")


class StatusOut(Schema):
    status = fields.String()


class StudentQuery(PageQuery):
    # Students by id (a request's subject; repeatable for a page of requests, 100 at most).
    id = fields.List(UuidString(), load_default=None, validate=validate.Length(max=100))
    name = SafeString(max_length=100, load_default=None)
    link_status = fields.String(load_default=None, validate=validate.OneOf(
        tuple(LinkStatus)))
    school_id = UuidString(load_default=None)  # for an admin of several schools


class LinkCounts(Schema):
    pending = fields.Integer()
    verified = fields.Integer()
    locked = fields.Integer()
    revoked = fields.Integer()


class SchoolStudent(Schema):
    id = fields.String()
    name = fields.String(allow_none=True)
    # No date of birth from the school yet: none of the student's links can be confirmed.
    waiting_for_date_of_birth = fields.Boolean()
    links = fields.Nested(LinkCounts)


SchoolStudentList = page_of(SchoolStudent, "SchoolStudentList")
