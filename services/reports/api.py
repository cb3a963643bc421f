"""HTTP API of the reports service (API.md "Parent and student", "School admin")."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app
from flask_smorest import Blueprint

from shared.auth import answers, current_principal, operation, require
from shared.service import current_context, in_transaction

from . import corrections, examples, schemas, school_view
from .reader import OneRowReader
from .service import Reports

if TYPE_CHECKING:
    from .bootstrap import UseCases

READERS = ("parent", "student", "school_admin")


def reports() -> Reports:
    uses: UseCases = current_context().use_cases
    return uses.reports


def reader() -> OneRowReader:
    uses: UseCases = current_context().use_cases
    return uses.reader


students = Blueprint("student-reports", __name__, url_prefix="/api/v1/students",
                     description="A student's published reports")


@students.route("/<uuid:student_id>/reports", methods=["GET"])
@require(*READERS)
@answers(423)
@operation("listStudentReports")
@students.arguments(schemas.Page, location="query")
@students.response(200, schemas.ReportList, example=examples.REPORTS)
def list_reports(page, student_id):
    """List a student's published reports.

    Newest first, `limit` (at most 50) at a time; `next` is the `after` of the next
    page."""
    principal = current_principal()
    return in_transaction(lambda s: reports().list_reports(
        s, principal, str(student_id), page["after"], page["limit"]))._asdict()


@students.route("/<uuid:student_id>/progress", methods=["GET"])
@require(*READERS)
@answers(423)
@operation("getStudentProgress")
@students.response(200, schemas.ProgressOut)
def student_progress(student_id):
    """A student's progress over the school year.

    Progress over the school year: each subject's grade against its target in every
    report published within a year of the newest (oldest first), what changed since the
    previous report, and attendance per report."""
    principal = current_principal()
    return in_transaction(lambda s: reports().progress(s, principal, str(student_id)))


blp = Blueprint("reports", __name__, url_prefix="/api/v1/reports",
                description="Published reports")


@blp.route("/<uuid:report_id>", methods=["GET"])
@require(*READERS)
@answers(423)
@operation("getReport")
@blp.response(200, schemas.ReportOut, example=examples.REPORT)
def read_report(report_id):
    """Read one report.

    One report: only through a verified link, the student's own account, or the
    school's staff."""
    body = reports().read_report(reader(), current_principal(), str(report_id))
    # JSON text kept since publishing: byte for byte the schema's dump (see
    # schemas.report_body).
    return current_app.response_class(body, mimetype="application/json")


@blp.route("", methods=["GET"])
@require("school_admin")
@blp.arguments(schemas.SchoolReportQuery, location="query")
@blp.response(200, schemas.SchoolReportList)
def list_school_reports(query):
    """List the school's published reports.

    The school's published reports (of one `period`, or all), newest first, with
    those still under embargo: `visible` says whether parents see it yet. `limit` (at
    most 50) at a time; `next` is the `after` of the next page."""
    school_id = current_principal().acting_school(query["school_id"])
    page = in_transaction(lambda s: school_view.published(
        s, school_id, query["period"], query["after"], query["limit"], reports().clock()))
    return page._asdict()


@blp.route("/periods", methods=["GET"])
@require("school_admin")
@blp.arguments(schemas.SchoolQuery, location="query")
@blp.response(200, schemas.PeriodList)
def list_periods(query):
    """List the periods the school has data in.

    The periods the school has data in, with how many students have data and how
    many reports were published for each: what POST /publish would publish."""
    school_id = current_principal().acting_school(query["school_id"])
    return {"items": in_transaction(lambda s: school_view.periods(s, school_id)),
            "next": None}


@blp.route("/draft", methods=["GET"])
@require("school_admin")
@operation("previewReport")
@blp.arguments(schemas.DraftQuery, location="query")
@blp.response(200, schemas.ReportOut, example=examples.REPORT)
def draft_report(query):
    """Preview a student's report before publishing.

    Before publishing: one student's report as publishing the period now would make it
    (the first by name with data, or `student_id`), kept nowhere. Its `id` is "draft"."""
    school_id = current_principal().acting_school(query["school_id"])
    body = in_transaction(lambda s: school_view.draft(
        reports(), s, school_id, query["period"], query["title"], query["student_id"],
        reports().clock()))
    return current_app.response_class(body, mimetype="application/json")


@blp.route("/publish", methods=["POST"])
@require("school_admin")
@operation("publishPeriod")
@blp.arguments(schemas.PublishRequest, example=examples.PUBLISH)
@blp.response(202, schemas.PublishResult, example=examples.PUBLISHED)
def publish(body):
    """Publish a period's reports.

    Publish a period: one snapshot per student with data in it, visible to parents
    from `visible_from` (default now), when they are told by email. A `visible_from`
    more than five minutes in the past is refused (422)."""
    school_id = current_principal().acting_school(body.get("school_id"))
    return {"published": in_transaction(lambda s: reports().publish(
        s, school_id, body["period"], body["title"], body["visible_from"]))}


@blp.route("/<uuid:report_id>/correct", methods=["POST"])
@require("school_admin")
@answers(409, 423)
@blp.arguments(schemas.CorrectRequest)
@blp.response(200, schemas.CorrectResult)
def correct_report(body, report_id):
    """Correct a published report.

    Replace a published report with a new snapshot of the student's data in its period
    now (fix the data in the school's system first). Parents then see only the new one,
    marked "updated on"; those told of the original are emailed about the correction
    only when `notify` is true. 409 when it was corrected or withdrawn already, or no
    data is left to report."""
    principal = current_principal()
    return in_transaction(lambda s: corrections.correct(
        reports(), s, principal, str(report_id), body["notify"], body.get("title")))


@blp.route("/<uuid:report_id>/withdraw", methods=["POST"])
@require("school_admin")
@blp.response(200, schemas.WithdrawResult)
def withdraw_report(report_id):
    """Withdraw a published report.

    Withdraw a published report: parents and the student no longer see it, and mail
    about it not sent yet is not sent. Withdrawing it again answers the same."""
    principal = current_principal()
    return in_transaction(lambda s: corrections.withdraw(reports(), s, principal,
                                                         str(report_id)))


BLUEPRINTS = (students, blp)
