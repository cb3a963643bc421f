"""Request and response schemas of the dsar API."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.contracts.fields import SafeString, StrictBoolean, UuidString
from shared.pages import PageQuery, page_of

from . import domain


class SubjectIn(Schema):
    type = fields.String(required=True, validate=validate.OneOf(("student", "guardian",
                                                                 "staff")), metadata={
        "description": "student, guardian or staff."})
    id = UuidString(metadata={"description": "The subject's id (or give source_id)."})
    source_id = SafeString(max_length=100, metadata={
        "description": "The school system's id of the subject (instead of id)."})

    @validates_schema
    def _one_key(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("id") and not data.get("source_id"):
            raise ValidationError("Give the subject's id (or source_id).", "id")


class DetailsIn(Schema):
    """What a kind needs besides its subject: `processing` for an objection, `lift` to
    end a restriction, and a short note for the school."""
    processing = fields.String(validate=validate.OneOf(("report_emails",)), metadata={
        "description": "The processing objected to (an objection): report_emails."})
    lift = StrictBoolean(metadata={
        "description": "True: end a restriction (a restriction request only)."})
    note = SafeString(max_length=500, metadata={"description": "A short note for the school."})


class RequestIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(domain.KINDS), metadata={
        "description": "access, portability, rectification, erasure, restriction or objection."})
    subject = fields.Nested(SubjectIn, required=True, metadata={
        "description": "Whom the request is about."})
    details = fields.Nested(DetailsIn, load_default=dict, metadata={
        "description": "What the kind needs besides its subject."})
    school_id = UuidString(metadata={
        "description": "The school that decides, for a filer of several schools."})

    @validates_schema
    def _details_fit_the_kind(self, data: dict[str, Any], **_: Any) -> None:
        details = data.get("details") or {}
        if data.get("kind") == "objection" and "processing" not in details:
            raise ValidationError("An objection names the processing objected to.",
                                  "details")
        if "lift" in details and data.get("kind") != "restriction":
            raise ValidationError("Only a restriction can be lifted.", "details")


class RefuseIn(Schema):
    reason = SafeString(required=True, max_length=500, validate=validate.Length(min=1), metadata={
        "description": "Why the request is refused (recorded)."})


class ExtendIn(Schema):
    months = fields.Integer(required=True, validate=validate.Range(1, 2), metadata={
        "description": "One or two months more."})
    reason = SafeString(required=True, max_length=500, validate=validate.Length(min=1), metadata={
        "description": "Why it needs longer (recorded, told to the requester)."})


class PauseIn(Schema):
    paused = StrictBoolean(required=True, metadata={
        "description": "True pauses (waiting on the requester); false resumes."})


class SubjectOut(Schema):
    """Whom a request is about (none for an offboarding)."""
    type = fields.String(allow_none=True, metadata={
        "description": "student, guardian or staff."})
    id = fields.String(allow_none=True, metadata={"description": "The subject's id."})


class DetailsOut(Schema):
    """What the request asked besides its subject (as filed; see DetailsIn)."""
    processing = fields.String(metadata={
        "description": "The processing objected to (an objection): report_emails."})
    lift = fields.Boolean(metadata={"description": "A restriction lifted, not asked for."})
    note = fields.String(metadata={"description": "The filer's short note for the school."})
    replay_of = fields.List(fields.String(), metadata={
        "description": "An erasure re-applied after a restore from backup: the ids of the "
                       "requests it stands for (shared/restore.py)."})


class RequestOut(Schema):
    id = fields.String(required=True, metadata={"description": "The request's id."})
    kind = fields.String(required=True, metadata={
        "description": "access, portability, rectification, erasure, restriction or objection."})
    status = fields.String(required=True, metadata={
        "description": "awaiting_school, in_progress, paused, completed, refused or failed."})
    due_at = fields.DateTime(required=True, metadata={
        "description": "When the law wants it answered (paused time added)."})
    days_left = fields.Integer(required=True, metadata={
        "description": "Days until due_at (negative when overdue)."})
    services = fields.Dict(keys=fields.String(), values=fields.String(), required=True, metadata={
        "description": "Each service's progress on it, by service name."})
    refusal_reason = fields.String(allow_none=True, required=True, metadata={
        "description": "Why it was refused, or null."})
    details = fields.Nested(DetailsOut, required=True, metadata={
        "description": "What it asked besides its subject."})
    subject = fields.Nested(SubjectOut, required=True, metadata={
        "description": "Whom it is about."})
    received_at = fields.DateTime(required=True, metadata={"description": "When it was filed."})
    school_id = fields.String(required=True, metadata={"description": "The school that decides."})
    overdue = fields.Boolean(required=True, metadata={
        "description": "Open and past its due date."})  # open and past its due date
    filed_as = fields.String(allow_none=True, required=True, metadata={
        "description": "The filer's role, or null."})  # the filer's role
    # The filer's account id: the console names them through identity (dsar keeps ids).
    filed_by = fields.String(allow_none=True, required=True, metadata={
        "description": "The filer's account id, or null."})
    extension_months = fields.Integer(required=True, metadata={
        "description": "Months it was extended by (0: not extended)."})
    extension_reason = fields.String(allow_none=True, required=True, metadata={
        "description": "Why it was extended, or null."})
    completed_at = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "When it completed, or null."})
    export_expires_at = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "When the export stops being available, or null."})
    export_available = fields.Boolean(required=True, metadata={
        "description": "GET .../export answers now."})  # GET …/export answers now
    export_released = fields.Boolean(required=True, metadata={
        "description": "Released to the parent or student who filed it: they download "
                       "it too (POST .../release), until export_expires_at."})
    receipt_available = fields.Boolean(required=True, metadata={
        "description": "GET .../receipt answers (a completed request)."})


class OwnSubject(Schema):
    type = fields.String(required=True, metadata={"description": "student or guardian."})
    id = fields.String(required=True, metadata={
        "description": "The record's id: the subject of a request."})
    yourself = fields.Boolean(required=True, metadata={
        "description": "True: the caller's own record; false: a child, through a verified link."})
    school_id = fields.String(allow_none=True, required=True, metadata={
        "description": "The school whose record it is, or null."})  # the school whose record it is


OwnSubjectList = page_of(OwnSubject, "OwnSubjectList")


class AuditStep(Schema):
    at = fields.DateTime(required=True, metadata={"description": "When the step happened."})
    step = fields.String(required=True, metadata={
        "description": "What happened (filed, approved, a service's answer...)."})
    service = fields.String(allow_none=True, required=True, metadata={
        "description": "The service that acted, or null."})
    actor = fields.String(allow_none=True, required=True, metadata={
        "description": "The account that acted, or null (ids only)."})
    seq = fields.Integer(required=True, metadata={
        "description": "The entry's place in the hash chain."})
    hash = fields.String(allow_none=True, required=True, metadata={
        "description": "The entry's hash in the chain, or null."})  # its hash (audit_chain.py)


AuditList = page_of(AuditStep, "AuditList")


class RequestQuery(PageQuery):
    """A school admin's list: `overdue` (the default, as before), `open` or `all`."""
    scope = fields.String(load_default="overdue", validate=validate.OneOf(
        ("overdue", "open", "all")), metadata={
        "description": "A school admin's list: overdue (the default), open or all."})


RequestList = page_of(RequestOut, "RequestList")


class OffboardingOut(Schema):
    """A school's offboarding: each service's answer to SchoolOffboarded."""
    id = fields.String(required=True, metadata={"description": "The offboarding's id."})
    school_id = fields.String(required=True, metadata={"description": "The school offboarded."})
    status = fields.String(required=True, metadata={
        "description": "in_progress, completed or failed."})  # in_progress | completed | failed
    received_at = fields.DateTime(required=True, metadata={
        "description": "When dsar heard of it."})
    completed_at = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "When every service had erased the school's data, or null."})
    services = fields.Dict(keys=fields.String(), values=fields.String(), required=True, metadata={
        "description": "Each service's answer, by service name (pending until it answers)."})
    reasons = fields.Dict(keys=fields.String(), values=fields.String(), required=True, metadata={
        "description": "Why a service failed, by service name."})


OffboardingList = page_of(OffboardingOut, "OffboardingList")


class DataMapHeld(Schema):
    """Personal data one table holds, of one kind of person, for one purpose."""
    table = fields.String(required=True, metadata={"description": "The table."})
    what = fields.String(required=True, metadata={"description": "The table, in words."})
    fields_ = fields.List(fields.String(), data_key="fields", required=True, metadata={
        "description": "The fields held, in words."})
    columns = fields.List(fields.String(), required=True, metadata={
        "description": "The columns holding them."})
    whose = fields.String(required=True, metadata={"description": "Whose data (a code)."})
    whose_text = fields.String(required=True, metadata={"description": "Whose, in words."})
    purpose = fields.String(required=True, metadata={"description": "What it is kept for."})


class DataMapService(Schema):
    service = fields.String(required=True, metadata={"description": "The service's name."})
    title = fields.String(required=True, metadata={"description": "Its title, in words."})
    role = fields.String(required=True, metadata={"description": "What it does."})
    answers_requests = fields.Boolean(required=True, metadata={
        "description": "It answers subject requests for the data it holds."})
    held = fields.List(fields.Nested(DataMapHeld), required=True, metadata={
        "description": "The personal data it holds."})


class DataMapOut(Schema):
    """The data map (shared/rights/datamap.py), for the document: answered as generated."""
    source = fields.String(required=True, metadata={"description": "Where the map comes from."})
    services = fields.List(fields.Nested(DataMapService), required=True, metadata={
        "description": "Every service, in order."})
