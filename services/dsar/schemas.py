"""Request and response schemas of the dsar API."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.contracts.fields import SafeString, StrictBoolean, UuidString
from shared.pages import PageQuery, page_of

from . import domain


class SubjectIn(Schema):
    type = fields.String(required=True, validate=validate.OneOf(("student", "guardian",
                                                                 "staff")))
    id = UuidString()
    source_id = SafeString(max_length=100)

    @validates_schema
    def _one_key(self, data, **_):
        if not data.get("id") and not data.get("source_id"):
            raise ValidationError("Give the subject's id (or source_id).", "id")


class DetailsIn(Schema):
    """What a kind needs besides its subject: `processing` for an objection, `lift` to
    end a restriction, and a short note for the school."""
    processing = fields.String(validate=validate.OneOf(("report_emails",)))
    lift = StrictBoolean()
    note = SafeString(max_length=500)


class RequestIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(domain.KINDS))
    subject = fields.Nested(SubjectIn, required=True)
    details = fields.Nested(DetailsIn, load_default=dict)
    school_id = UuidString()  # only when the filer belongs to several schools

    @validates_schema
    def _details_fit_the_kind(self, data, **_):
        details = data.get("details") or {}
        if data.get("kind") == "objection" and "processing" not in details:
            raise ValidationError("An objection names the processing objected to.",
                                  "details")
        if "lift" in details and data.get("kind") != "restriction":
            raise ValidationError("Only a restriction can be lifted.", "details")


class RefuseIn(Schema):
    reason = SafeString(required=True, max_length=500, validate=validate.Length(min=1))


class ExtendIn(Schema):
    months = fields.Integer(required=True, validate=validate.Range(1, 2))
    reason = SafeString(required=True, max_length=500, validate=validate.Length(min=1))


class PauseIn(Schema):
    paused = StrictBoolean(required=True)


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
    id = fields.String()
    kind = fields.String()
    status = fields.String()
    due_at = fields.DateTime()
    days_left = fields.Integer()
    services = fields.Dict(keys=fields.String(), values=fields.String())
    refusal_reason = fields.String(allow_none=True)
    details = fields.Nested(DetailsOut)
    subject = fields.Nested(SubjectOut)
    received_at = fields.DateTime()
    school_id = fields.String()  # the school that decides (a parent may have several)
    overdue = fields.Boolean()  # open and past its due date
    filed_as = fields.String(allow_none=True)  # the filer's role
    # The filer's account id: the console names them through identity (dsar keeps ids).
    filed_by = fields.String(allow_none=True)
    extension_months = fields.Integer()
    extension_reason = fields.String(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    export_expires_at = fields.DateTime(allow_none=True)
    export_available = fields.Boolean()  # GET …/export answers now
    # Released to the parent or student who asked: they download it too (issue 24).
    export_released = fields.Boolean()
    receipt_available = fields.Boolean()  # GET …/receipt answers (a completed request)


class OwnSubject(Schema):
    type = fields.String()
    id = fields.String()
    yourself = fields.Boolean()  # false: a child, through a verified link
    school_id = fields.String(allow_none=True)  # the school whose record it is


OwnSubjectList = page_of(OwnSubject, "OwnSubjectList")


class AuditStep(Schema):
    at = fields.DateTime()
    step = fields.String()
    service = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)
    seq = fields.Integer()  # the entry's place in the hash chain
    hash = fields.String(allow_none=True)  # its hash (audit_chain.py)


AuditList = page_of(AuditStep, "AuditList")


class RequestQuery(PageQuery):
    """A school admin's list: `overdue` (the default, as before), `open` or `all`."""
    scope = fields.String(load_default="overdue", validate=validate.OneOf(
        ("overdue", "open", "all")))


RequestList = page_of(RequestOut, "RequestList")


class OffboardingOut(Schema):
    """A school's offboarding: each service's answer to SchoolOffboarded."""
    id = fields.String()
    school_id = fields.String()
    status = fields.String()  # in_progress | completed | failed
    received_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)
    services = fields.Dict(keys=fields.String(), values=fields.String())
    reasons = fields.Dict(keys=fields.String(), values=fields.String())


OffboardingList = page_of(OffboardingOut, "OffboardingList")
