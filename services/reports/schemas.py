"""Request and response schemas of the reports API, and a report's answer rendered once."""
from __future__ import annotations

import datetime as dt
import json

from marshmallow import Schema, fields, validate

from shared.contracts.fields import SafeString, UtcDateTime, UuidString
from shared.pages import page_of

from . import domain

MAX_PAGE = 50


class PublishRequest(Schema):
    period = SafeString(required=True, max_length=100, validate=validate.Length(min=1))
    title = SafeString(required=True, max_length=200, validate=validate.Length(min=1))
    visible_from = UtcDateTime(load_default=None)
    school_id = UuidString()  # only needed by an admin of several schools


class PublishResult(Schema):
    published = fields.Integer()


class CorrectRequest(Schema):
    # Whether the parents who were told of the report are told of the correction.
    notify = fields.Boolean(required=True)
    title = SafeString(max_length=200, validate=validate.Length(min=1))  # default: the same


class CorrectResult(Schema):
    id = fields.String()  # the new report, which replaces `replaces`
    replaces = fields.String()
    updated_at = fields.DateTime()


class WithdrawResult(Schema):
    id = fields.String()
    withdrawn_at = fields.DateTime()


class Page(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(1, MAX_PAGE))
    after = UuidString(load_default=None)


class ReportSummary(Schema):
    id = fields.String()
    period = fields.String()
    title = fields.String()
    published_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)  # when corrected; None otherwise
    withdrawn_at = fields.DateTime(allow_none=True)  # only the school sees withdrawn ones


ReportList = page_of(ReportSummary, "ReportList")


class StudentOut(Schema):
    id = fields.String()
    name = fields.String(allow_none=True)
    form_group = fields.String(allow_none=True)
    # None: the school has not sent one (OneRoster `grades` is optional); absent from
    # reports published before it was shown.
    year_group = fields.Integer(allow_none=True)


class SchoolReportQuery(Page):
    period = SafeString(max_length=100, load_default=None)
    school_id = UuidString(load_default=None)  # only for an admin of several schools


class SchoolReport(Schema):
    """A published report as the school sees it: embargoed ones too."""
    id = fields.String()
    student = fields.Nested(StudentOut)
    period = fields.String()
    title = fields.String()
    version = fields.Integer()
    published_at = fields.DateTime()
    visible_from = fields.DateTime()
    visible = fields.Boolean()  # parents can see it now
    updated_at = fields.DateTime(allow_none=True)  # a correction: when it was made
    withdrawn_at = fields.DateTime(allow_none=True)  # withdrawn: parents no longer see it


SchoolReportList = page_of(SchoolReport, "SchoolReportList")


class SchoolQuery(Schema):
    school_id = UuidString(load_default=None)


class DraftQuery(Schema):
    period = SafeString(required=True, max_length=100, validate=validate.Length(min=1))
    title = SafeString(max_length=200, load_default=None)
    student_id = UuidString(load_default=None)  # default: the first by name with data
    school_id = UuidString(load_default=None)  # only for an admin of several schools


class PeriodOut(Schema):
    period = fields.String()
    students = fields.Integer()  # students with data in it
    reports = fields.Integer()  # reports published for it, every version
    # Parents with a confirmed link to a student with data in it: who publishing tells
    # (unless they turned report emails off).
    parents = fields.Integer()
    last_published_at = fields.DateTime(allow_none=True)


PeriodList = page_of(PeriodOut, "PeriodList")


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
    updated_at = fields.DateTime()  # only on a correction: when the school corrected it
    subjects = fields.List(fields.Nested(SubjectOut))


_REPORT_OUT = ReportOut()  # one instance: building a nested schema is not free


def report_body(report_id: str, period: str, title: str, published_at: dt.datetime,
                content: dict, updated_at: dt.datetime | None = None) -> str:
    """A report's answer as `GET /api/v1/reports/{id}` sends it: the ReportOut dump
    written as Flask's JSON provider writes it (sorted keys, compact, ASCII, a final
    newline). Rendered when the report is published, so a read sends stored text."""
    dump = _REPORT_OUT.dump({"id": report_id, "period": period, "title": title,
                             "published_at": published_at.astimezone(dt.timezone.utc),
                             **domain.render(content),
                             **({"updated_at": updated_at.astimezone(dt.timezone.utc)}
                                if updated_at is not None else {})})
    return json.dumps(dump, ensure_ascii=True, sort_keys=True, separators=(",", ":")) + "\n"


# --- progress over the school year (issue 24) ----------------------------------------------
class ProgressPeriod(Schema):
    report_id = fields.String()
    period = fields.String()
    title = fields.String()
    published_at = fields.DateTime()
    attendance = fields.Float(allow_none=True)  # a percentage, when the school sent one


class ProgressPoint(Schema):
    period = fields.String()
    grade = fields.String(allow_none=True)   # the grade, else the mark as "NN%"
    target = fields.String(allow_none=True)
    standing = fields.String(allow_none=True)  # below | on | above target; null: unknown


class ProgressChange(Schema):
    before = fields.String(allow_none=True)
    after = fields.String(allow_none=True)
    direction = fields.String(allow_none=True)  # up | down | same | changed


class ProgressSubject(Schema):
    subject = fields.String()
    class_ = fields.String(data_key="class", attribute="class", allow_none=True)
    points = fields.List(fields.Nested(ProgressPoint))  # one per period, oldest first
    change = fields.Nested(ProgressChange, allow_none=True)  # since the previous report


class ProgressValue(Schema):
    period = fields.String()
    value = fields.String(allow_none=True)  # null: not in that report


class ProgressCharacteristic(Schema):
    subject = fields.String()  # "General": recorded without a class
    class_ = fields.String(data_key="class", attribute="class", allow_none=True)
    kind = fields.String()  # attitude | effort | behaviour
    points = fields.List(fields.Nested(ProgressValue))  # one per period, oldest first
    change = fields.Nested(ProgressChange, allow_none=True)  # since the previous report


class ProgressOut(Schema):
    student_id = fields.String()
    periods = fields.List(fields.Nested(ProgressPeriod))  # the school year, oldest first
    subjects = fields.List(fields.Nested(ProgressSubject))
    characteristics = fields.List(fields.Nested(ProgressCharacteristic))
