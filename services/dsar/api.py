"""HTTP API of the dsar service (API.md "Subject requests")."""
from __future__ import annotations

import datetime as dt

from flask import Response, jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.auth import current_principal, require
from shared.contracts.fields import SafeString, StrictBoolean, UuidString
from shared.db import run_in_transaction
from shared.errors import ApiError, NotFound
from shared.pages import PageQuery, page_of
from shared.service import ServiceContext

from . import domain
from .service import Dsar


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


class RequestOut(Schema):
    id = fields.String()
    kind = fields.String()
    status = fields.String()
    due_at = fields.DateTime()
    days_left = fields.Integer()
    services = fields.Dict(keys=fields.String(), values=fields.String())
    refusal_reason = fields.String(allow_none=True)
    details = fields.Dict()
    subject = fields.Dict()
    received_at = fields.DateTime()
    overdue = fields.Boolean()  # open and past its due date
    filed_as = fields.String(allow_none=True)  # the filer's role
    extension_months = fields.Integer()
    extension_reason = fields.String(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    export_expires_at = fields.DateTime(allow_none=True)
    export_available = fields.Boolean()  # GET …/export answers now


class OwnSubject(Schema):
    type = fields.String()
    id = fields.String()
    yourself = fields.Boolean()  # false: a child, through a verified link


OwnSubjectList = page_of(OwnSubject, "OwnSubjectList")


class AuditStep(Schema):
    at = fields.DateTime()
    step = fields.String()
    service = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)


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


def dsar_of(ctx: ServiceContext) -> Dsar:
    if "dsar" not in ctx.extras:
        ctx.extras["dsar"] = Dsar(ctx.outbox, removed_retention=dt.timedelta(
            days=ctx.settings.removed_student_retention_days))
    return ctx.extras["dsar"]


def build_blueprints(ctx: ServiceContext) -> list:
    dsar = dsar_of(ctx)
    blp = Blueprint("subject-requests", __name__, url_prefix="/api/v1/subject-requests",
                    description="Data subject requests, fanned out to every service")

    def run(work):
        return run_in_transaction(ctx.sessions, work)

    @blp.route("", methods=["POST"])
    @require("school_admin", "parent", "student")
    @blp.arguments(RequestIn)
    @blp.response(201, RequestOut)
    def file_request(body):
        """File a request: a school admin's starts at once; a parent's or a student's
        waits for the school (`awaiting_school`)."""
        principal = current_principal()
        subject = body["subject"]
        school_id = body.get("school_id")
        if school_id is None:
            if len(principal.school_ids) != 1:
                raise ApiError(422, "validation_failed", "Say which school.",
                               {"school_id": ["Required when you belong to several."]})
            school_id = principal.school_ids[0]
        elif not principal.in_school(school_id):
            raise NotFound()
        if principal.role == "student" and subject["type"] != "student":
            raise ApiError(422, "validation_failed", "A student files about themselves.",
                           {"subject.type": ["Must be student."]})
        if principal.role != "school_admin" and not subject.get("id"):
            raise ApiError(422, "validation_failed", "Give the subject's id.",
                           {"subject.id": ["Required when filing about yourself or your "
                                           "child."]})
        return run(lambda s: dsar.file(s, school_id, body["kind"], subject["type"],
                                       subject.get("id"), body["details"],
                                       principal.account_id, principal.role,
                                       source_id=subject.get("source_id")))

    @blp.route("", methods=["GET"])
    @require("school_admin", "parent", "student")
    @blp.arguments(RequestQuery, location="query")
    @blp.response(200, RequestList)
    def overdue(query):
        """A school admin: the school's requests past their due date (`scope=overdue`, the
        default), or every open one (`scope=open`: awaiting the school, in progress,
        paused) or all (`scope=all`), newest first, `limit` at a time (`next` is the
        `after` of the next page). A parent or a student: the requests they filed, newest
        first (the latest 100)."""
        principal = current_principal()
        if principal.role == "school_admin":
            if query["scope"] == "overdue":
                return {"items": run(lambda s: dsar.overdue(s, principal.school_ids)),
                        "next": None}
            items, next_cursor = run(lambda s: dsar.for_school(
                s, principal.school_ids, query["scope"], query["after"], query["limit"]))
            return {"items": items, "next": next_cursor}
        return {"items": run(lambda s: dsar.filed_by(s, principal.account_id)), "next": None}

    @blp.route("/subjects", methods=["GET"])
    @require("parent", "student")
    @blp.response(200, OwnSubjectList)
    def own_subjects():
        """Whom the caller may file about: their own records, and their verified children."""
        principal = current_principal()
        return {"items": run(lambda s: dsar.own_subjects(s, principal.account_id)),
                "next": None}

    @blp.route("/<uuid:request_id>", methods=["GET"])
    @require("school_admin", "parent", "student")
    @blp.response(200, RequestOut)
    def get_request(request_id):
        """Status, due date, days left and each service's progress."""
        principal = current_principal()
        return run(lambda s: dsar.get(s, str(request_id), principal))

    def admin_action(name, method, schema=None, doc=""):
        def view(*args, request_id):
            principal = current_principal()
            body = args[0] if args else {}
            return run(lambda s: method(s, str(request_id), principal.school_ids,
                                        principal.account_id, **body))
        view.__name__ = f"{name.replace('-', '_')}_request"
        view.__doc__ = doc
        decorated = blp.response(200, RequestOut)(view)
        if schema is not None:
            decorated = blp.arguments(schema)(decorated)
        decorated = require("school_admin")(decorated)
        blp.route(f"/<uuid:request_id>/{name}", methods=["POST"])(decorated)

    admin_action("approve", dsar.approve, doc="Approve a parent's or student's request.")
    admin_action("refuse", dsar.refuse, RefuseIn, "Refuse it, with the reason recorded.")
    admin_action("retry", dsar.retry, doc="Ask the services that failed or are silent again.")
    admin_action("extend", dsar.extend, ExtendIn, "Extend by up to two months, with a reason.")
    admin_action("pause", dsar.pause, PauseIn, "Pause while waiting on the requester, or "
                 "resume.")
    admin_action("complete", dsar.complete_task, doc="Complete a rectification once the "
                 "corrected data has been pushed.")

    @blp.route("/<uuid:request_id>/audit", methods=["GET"])
    @require("school_admin")
    @blp.response(200, AuditList)
    def audit_trail(request_id):
        """Every step of the request, ids only, in order (append-only)."""
        principal = current_principal()
        return {"items": run(lambda s: dsar.audit_trail(s, str(request_id),
                                                        principal.school_ids)),
                "next": None}

    @blp.route("/<uuid:request_id>/export", methods=["GET"])
    @require("school_admin")
    def export(request_id):
        """The access or portability export: a zip of JSON and a CSV per table, for a
        limited time."""
        principal = current_principal()
        data = run(lambda s: dsar.export_zip(s, str(request_id), principal.school_ids))
        return Response(data, mimetype="application/zip", headers={
            "Content-Disposition": f'attachment; filename="subject-request-{request_id}.zip"'})

    data_map_blp = Blueprint("data-map", __name__, url_prefix="/api/v1/data-map",
                             description="Which personal data each part of the system holds")

    @data_map_blp.route("", methods=["GET"])
    @data_map_blp.alt_response(200, success=True, description="The data map", schema={
        "type": "object", "required": ["services"], "properties": {
            "source": {"type": "string"},
            "services": {"type": "array", "items": {"type": "object"}}}})
    def data_map_view():
        """Generated from every service's personal-data declaration (public: the web app's
        "How we keep your data safe" page)."""
        from shared.rights.datamap import data_map
        return jsonify(data_map())

    offboardings = Blueprint("offboardings", __name__, url_prefix="/api/v1/offboardings",
                             description="Offboarded schools: each service's progress")

    @offboardings.route("", methods=["GET"])
    @require("operator")
    @offboardings.arguments(PageQuery, location="query")
    @offboardings.response(200, OffboardingList)
    def list_offboardings(query):
        """Every offboarding, by school id, `limit` (at most 100) at a time; `next` is the
        `after` of the next page."""
        items, next_cursor = run(lambda s: dsar.offboardings(s, query["after"],
                                                             query["limit"]))
        return {"items": items, "next": next_cursor}

    @offboardings.route("/<uuid:school_id>", methods=["GET"])
    @require("operator")
    @offboardings.response(200, OffboardingOut)
    def get_offboarding(school_id):
        """One school's offboarding: which services have erased its data. 404 until dsar
        has SchoolOffboarded (moments after DELETE /api/v1/schools/{school_id})."""
        return run(lambda s: dsar.offboarding(s, str(school_id)))

    return [blp, data_map_blp, offboardings]
