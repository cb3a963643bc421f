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
    period = SafeString(required=True, max_length=100, validate=validate.Length(min=1),
                        metadata={"description": "The period to publish, as the school's "
                                                 "data names it (e.g. `2025-26 Autumn`)."})
    title = SafeString(required=True, max_length=200, validate=validate.Length(min=1), metadata={
        "description": "The reports' title, as parents see it."})
    visible_from = UtcDateTime(load_default=None, metadata={
        "description": "When parents see them and are told (default now; not in the past)."})
    school_id = UuidString(metadata={"description": "The school, for an admin of several."})


class PublishResult(Schema):
    published = fields.Integer(required=True, metadata={
        "description": "How many reports were published."})


class CorrectRequest(Schema):
    # Whether the parents who were told of the report are told of the correction.
    notify = fields.Boolean(required=True, metadata={
        "description": "Whether the parents told of the report are told of the correction."})
    title = SafeString(max_length=200, validate=validate.Length(min=1), metadata={
        "description": "A new title (default: the same)."})  # default: the same


class CorrectResult(Schema):
    id = fields.String(required=True, metadata={
        "description": "The new report, which replaces `replaces`."})
    replaces = fields.String(required=True, metadata={"description": "The report corrected."})
    updated_at = fields.DateTime(required=True, metadata={"description": "When it was corrected."})


class WithdrawResult(Schema):
    id = fields.String(required=True, metadata={"description": "The report withdrawn."})
    withdrawn_at = fields.DateTime(required=True, metadata={
        "description": "When it was withdrawn."})


class Page(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(1, MAX_PAGE), metadata={
        "description": "At most this many items."})
    after = UuidString(load_default=None, metadata={
        "description": "The previous page's `next`: the items after it."})


class ReportSummary(Schema):
    id = fields.String(required=True, metadata={"description": "The report's id."})
    period = fields.String(required=True, metadata={"description": "The period it reports on."})
    title = fields.String(required=True, metadata={"description": "Its title."})
    published_at = fields.DateTime(required=True, metadata={
        "description": "When it was published."})
    updated_at = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "When it was corrected, or null."})  # when corrected; None otherwise
    withdrawn_at = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "When it was withdrawn (only the school sees these), or null."})


ReportList = page_of(ReportSummary, "ReportList")


class StudentOut(Schema):
    id = fields.String(metadata={"description": "The student's id."})
    name = fields.String(allow_none=True, metadata={"description": "The student's name, or null."})
    form_group = fields.String(allow_none=True, metadata={
        "description": "The student's form group, or null."})
    # None: the school has not sent one (OneRoster `grades` is optional); absent from
    # reports published before it was shown.
    year_group = fields.Integer(allow_none=True, metadata={
        "description": "The student's year group; null when the school sent none."})


class SchoolReportQuery(Page):
    period = SafeString(max_length=100, load_default=None, metadata={
        "description": "Only this period's reports."})
    school_id = UuidString(load_default=None, metadata={
        "description": "The school, for an admin of several."})


class SchoolReport(Schema):
    """A published report as the school sees it: embargoed ones too."""
    id = fields.String(required=True, metadata={"description": "The report's id."})
    student = fields.Nested(StudentOut, required=True, metadata={
        "description": "The student it is about."})
    period = fields.String(required=True, metadata={"description": "The period it reports on."})
    title = fields.String(required=True, metadata={"description": "Its title."})
    version = fields.Integer(required=True, metadata={
        "description": "1, then one more for each correction."})
    published_at = fields.DateTime(required=True, metadata={
        "description": "When it was published."})
    visible_from = fields.DateTime(required=True, metadata={
        "description": "When parents see it (the embargo)."})
    visible = fields.Boolean(required=True, metadata={"description": "Parents can see it now."})
    updated_at = fields.DateTime(allow_none=True, metadata={
        "description": "A correction: when it was made."})  # a correction: when it was made
    withdrawn_at = fields.DateTime(allow_none=True, metadata={
        "description": "Withdrawn: when (parents no longer see it)."})


SchoolReportList = page_of(SchoolReport, "SchoolReportList")


class SchoolQuery(Schema):
    school_id = UuidString(load_default=None, metadata={
        "description": "The school, for an admin of several."})


class DraftQuery(Schema):
    period = SafeString(required=True, max_length=100, validate=validate.Length(min=1), metadata={
        "description": "The period to preview."})
    title = SafeString(max_length=200, load_default=None, metadata={
        "description": "The title to preview with."})
    student_id = UuidString(load_default=None, metadata={
        "description": "The student (default: the first by name with data)."})
    school_id = UuidString(load_default=None, metadata={
        "description": "The school, for an admin of several."})


class PeriodOut(Schema):
    period = fields.String(required=True, metadata={"description": "The period's name."})
    students = fields.Integer(required=True, metadata={"description": "Students with data in it."})
    reports = fields.Integer(required=True, metadata={
        "description": "Reports published for it, every version."})
    # Parents with a confirmed link to a student with data in it: who publishing tells
    # (unless they turned report emails off).
    parents = fields.Integer(required=True, metadata={
        "description": "Parents with a confirmed link to a student with data in it."})
    last_published_at = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "When it was last published, or null."})


PeriodList = page_of(PeriodOut, "PeriodList")


class Attainment(Schema):
    kind = fields.String(metadata={"description": "mark, grade or target."})
    value = fields.String(metadata={"description": "The value as the school sent it."})
    out_of = fields.Float(metadata={"description": "A mark's maximum."})
    topic = fields.String(metadata={"description": "What the mark was for."})


class Characteristic(Schema):
    kind = fields.String(metadata={"description": "attitude, effort, behaviour or attendance."})
    value = fields.String(metadata={"description": "The value as the school sent it."})


class SubjectOut(Schema):
    subject = fields.String(metadata={"description": "The subject."})
    # "class" is a Python keyword: the field is named on the wire by data_key.
    class_ = fields.String(data_key="class", attribute="class", allow_none=True, metadata={
        "description": "The class's name, or null."})
    teachers = fields.List(fields.String(), metadata={
        "description": "The class's teachers, by name."})
    attainment = fields.List(fields.Nested(Attainment), metadata={
        "description": "Grades, marks and targets in the period."})
    characteristics = fields.List(fields.Nested(Characteristic), metadata={
        "description": "Attitude, effort and behaviour in the period."})


class ReportOut(Schema):
    id = fields.String(required=True, metadata={
        "description": "The report's id (`draft` for a preview)."})
    student = fields.Nested(StudentOut, required=True, metadata={
        "description": "The student it is about."})
    period = fields.String(required=True, metadata={"description": "The period it reports on."})
    title = fields.String(required=True, metadata={"description": "Its title."})
    published_at = fields.DateTime(required=True, metadata={
        "description": "When it was published."})
    updated_at = fields.DateTime(metadata={
        "description": "Only on a correction: when the school corrected it."})
    subjects = fields.List(fields.Nested(SubjectOut), required=True, metadata={
        "description": "Each subject's attainment and characteristics."})


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
    report_id = fields.String(metadata={"description": "The report of the period."})
    period = fields.String(metadata={"description": "The period."})
    title = fields.String(metadata={"description": "The report's title."})
    published_at = fields.DateTime(metadata={"description": "When it was published."})
    attendance = fields.Float(allow_none=True, metadata={
        "description": "Attendance, a percentage, when the school sent one."})


class ProgressPoint(Schema):
    period = fields.String(metadata={"description": "The period."})
    grade = fields.String(allow_none=True, metadata={
        "description": "The grade, else the mark as `NN%`; null: none."})
    target = fields.String(allow_none=True, metadata={"description": "The target grade, or null."})
    standing = fields.String(allow_none=True, metadata={
        "description": "below, on or above target; null: unknown."})


class ProgressChange(Schema):
    before = fields.String(allow_none=True, metadata={
        "description": "The previous report's value, or null."})
    after = fields.String(allow_none=True, metadata={
        "description": "The newest report's value, or null."})
    direction = fields.String(allow_none=True, metadata={
        "description": "up, down, same or changed; null: unknown."})  # up | down | same | changed


class ProgressSubject(Schema):
    subject = fields.String(metadata={"description": "The subject."})
    class_ = fields.String(data_key="class", attribute="class", allow_none=True, metadata={
        "description": "The class's name, or null."})
    points = fields.List(fields.Nested(ProgressPoint), metadata={
        "description": "One per period, oldest first."})  # one per period, oldest first
    change = fields.Nested(ProgressChange, allow_none=True, metadata={
        "description": "Since the previous report, or null."})  # since the previous report


class ProgressValue(Schema):
    period = fields.String(metadata={"description": "The period."})
    value = fields.String(allow_none=True, metadata={
        "description": "The value; null: not in that report."})  # null: not in that report


class ProgressCharacteristic(Schema):
    subject = fields.String(metadata={
        "description": "The subject (`General`: recorded without a class)."})
    class_ = fields.String(data_key="class", attribute="class", allow_none=True, metadata={
        "description": "The class's name, or null."})
    kind = fields.String(metadata={"description": "attitude, effort or behaviour."})
    points = fields.List(fields.Nested(ProgressValue), metadata={
        "description": "One per period, oldest first."})  # one per period, oldest first
    change = fields.Nested(ProgressChange, allow_none=True, metadata={
        "description": "Since the previous report, or null."})  # since the previous report


class ProgressOut(Schema):
    student_id = fields.String(required=True, metadata={"description": "The student's id."})
    periods = fields.List(fields.Nested(ProgressPeriod), required=True, metadata={
        "description": "The school year's reports, oldest first."})  # the school year, oldest first
    subjects = fields.List(fields.Nested(ProgressSubject), required=True, metadata={
        "description": "Each subject's grades against target."})
    characteristics = fields.List(fields.Nested(ProgressCharacteristic), required=True, metadata={
        "description": "Each characteristic's values."})
