"""Request and response schemas of the linking API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.contracts.fields import SafeString, StrictDate, UuidString
from shared.pages import PageQuery, page_of

from .domain import LinkStatus


class VerifyRequest(Schema):
    date_of_birth = StrictDate(required=True, metadata={
        "description": "The child's date of birth, as the school holds it."})


class LinkQuery(PageQuery):
    student_id = UuidString(metadata={"description": "Only the links to this student."})


class StudentOut(Schema):
    id = fields.String(required=True, metadata={"description": "The student's id."})
    name = fields.String(required=True, allow_none=True, metadata={
        "description": "The student's name, null when the school sent none."})


class LinkOut(Schema):
    id = fields.String(required=True, metadata={"description": "The link's id."})
    student = fields.Nested(StudentOut, required=True, metadata={
        "description": "The child the link is to."})
    status = fields.String(required=True, metadata={
        "description": "pending, verified, locked or revoked."})
    school_id = fields.String(required=True, metadata={  # GET /me names it
        "description": "The child's school."})
    # Pending, and the school has not sent the child's date of birth: it cannot be confirmed
    # until the school does (OneRoster's demographics, or a push's date_of_birth).
    waiting_for_date_of_birth = fields.Boolean(required=True, metadata={
        "description": "The school has not sent the child's date of birth yet."})
    guardian_id = fields.String(metadata={
        "description": "The parent's guardian record (school admins only)."})
    failed_attempts = fields.Integer(metadata={
        "description": "Wrong dates of birth given so far (school admins only)."})
    has_account = fields.Boolean(metadata={
        "description": "The parent has activated a login (school admins only)."})
    # School admins only: the login holding the contact's record, so the console names the
    # parent who filed a request and their relationship to the child (issue 24).
    account_id = fields.String(allow_none=True, metadata={
        "description": "The parent's login, if any (school admins only)."})
    relationship = fields.String(allow_none=True, metadata={
        "description": "The school's word for the relationship (school admins only)."})
    changed_at = fields.DateTime(metadata={
        "description": "When the link last changed (school admins only)."})


LinkList = page_of(LinkOut, "LinkList")


class StatusOut(Schema):
    status = fields.String(required=True, metadata={
        "description": "The link's status now: pending, verified, locked or revoked."})


class StudentQuery(PageQuery):
    # Students by id (a request's subject; repeatable for a page of requests, 100 at most).
    id = fields.List(UuidString(), load_default=None, validate=validate.Length(max=100),
                     metadata={"description": "Only these students (repeatable)."})
    name = SafeString(max_length=100, load_default=None, metadata={
        "description": "Only students whose name contains this."})
    link_status = fields.String(load_default=None, validate=validate.OneOf(
        tuple(LinkStatus)), metadata={"description": "Only students with a link in it."})
    school_id = UuidString(load_default=None, metadata={  # an admin of several schools
        "description": "The school (an admin of several)."})


class LinkCounts(Schema):
    pending = fields.Integer(required=True, metadata={
        "description": "Links waiting for the date of birth."})
    verified = fields.Integer(required=True, metadata={"description": "Active links."})
    locked = fields.Integer(required=True, metadata={
        "description": "Links locked after wrong dates of birth."})
    revoked = fields.Integer(required=True, metadata={"description": "Ended links."})


class SchoolStudent(Schema):
    id = fields.String(required=True, metadata={"description": "The student's id."})
    name = fields.String(required=True, allow_none=True, metadata={
        "description": "The student's name, null when the school sent none."})
    waiting_for_date_of_birth = fields.Boolean(required=True, metadata={
        "description": "No date of birth from the school yet: no link can be confirmed."})
    links = fields.Nested(LinkCounts, required=True, metadata={
        "description": "The student's links, counted by status."})


SchoolStudentList = page_of(SchoolStudent, "SchoolStudentList")
