"""HTTP API of the reports service (API.md "Parent and student", "School admin")."""
from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from shared.auth import current_principal, require
from shared.db import run_in_transaction
from shared.service import ServiceContext

from . import schemas, school_view
from .reader import reader_of
from .service import Reports

READERS = ("parent", "student", "school_admin")


def reports_of(ctx: ServiceContext) -> Reports:
    if "reports" not in ctx.extras:
        ctx.extras["reports"] = Reports(ctx.outbox, ctx.participant)
    return ctx.extras["reports"]


def build_blueprints(ctx: ServiceContext) -> list:
    service = reports_of(ctx)
    reader = reader_of(ctx)

    def run(work):
        return run_in_transaction(ctx.sessions, work)

    students = Blueprint("student-reports", __name__, url_prefix="/api/v1/students",
                         description="A student's published reports")

    @students.route("/<uuid:student_id>/reports", methods=["GET"])
    @require(*READERS)
    @students.arguments(schemas.Page, location="query")
    @students.response(200, schemas.ReportList)
    def list_reports(page, student_id):
        """Newest first, `limit` (at most 50) at a time; `next` is the `after` of the next
        page."""
        principal = current_principal()
        items, next_cursor = run(lambda s: service.list_reports(
            s, principal, str(student_id), page["after"], page["limit"]))
        return {"items": items, "next": next_cursor}

    blp = Blueprint("reports", __name__, url_prefix="/api/v1/reports",
                    description="Published reports")

    @blp.route("/<uuid:report_id>", methods=["GET"])
    @require(*READERS)
    @blp.response(200, schemas.ReportOut)
    def read_report(report_id):
        """One report: only through a verified link, the student's own account, or the
        school's staff."""
        body = service.read_report(reader, current_principal(), str(report_id))
        # JSON text kept since publishing: byte for byte the schema's dump (see
        # schemas.report_body).
        return current_app.response_class(body, mimetype="application/json")

    @blp.route("", methods=["GET"])
    @require("school_admin")
    @blp.arguments(schemas.SchoolReportQuery, location="query")
    @blp.response(200, schemas.SchoolReportList)
    def list_school_reports(query):
        """The school's published reports (of one `period`, or all), newest first, with
        those still under embargo: `visible` says whether parents see it yet. `limit` (at
        most 50) at a time; `next` is the `after` of the next page."""
        school_id = current_principal().acting_school(query["school_id"])
        items, next_cursor = run(lambda s: school_view.published(
            s, school_id, query["period"], query["after"], query["limit"], service.clock()))
        return {"items": items, "next": next_cursor}

    @blp.route("/periods", methods=["GET"])
    @require("school_admin")
    @blp.arguments(schemas.SchoolQuery, location="query")
    @blp.response(200, schemas.PeriodList)
    def list_periods(query):
        """The periods the school has data in, with how many students have data and how
        many reports were published for each: what POST /publish would publish."""
        school_id = current_principal().acting_school(query["school_id"])
        return {"items": run(lambda s: school_view.periods(s, school_id)), "next": None}

    @blp.route("/publish", methods=["POST"])
    @require("school_admin")
    @blp.arguments(schemas.PublishRequest)
    @blp.response(202, schemas.PublishResult)
    def publish(body):
        """Publish a period: one snapshot per student with data in it, visible to parents
        from `visible_from` (default now), when they are told by email."""
        school_id = current_principal().acting_school(body.get("school_id"))
        return {"published": run(lambda s: service.publish(
            s, school_id, body["period"], body["title"], body["visible_from"]))}

    return [students, blp]
