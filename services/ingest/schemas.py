"""The school-data push (API.md "School data push"): the batch, and each event's `data`.

Every text field is a SafeString (no control characters, no bidi overrides, bounded), so a
CRLF in an email or a NUL in a name rejects that event, by its index, and nothing else.
"""
from __future__ import annotations

import functools

from marshmallow import RAISE, Schema, fields, validate

from shared.contracts.fields import SafeEmail, SafeString, StrictDate
from shared.errors import ErrorRowSchema
from shared.pages import PageQuery, page_of

MAX_EVENTS_PER_BATCH = 5000
MAX_BATCH_BYTES = 16 * 1024 * 1024
MAX_REFERENCES = 2000  # students in a class, children of a guardian
# A year group as English schools count them (issue 24): 0 is Reception, 1 to 13 Year 1 to
# Year 13 (sixth form's 12 and 13). Nursery and anything else: leave it out (not known).
YEAR_GROUPS = (0, 13)



def _text(max_length: int):
    def field(**kwargs) -> SafeString:
        return SafeString(max_length=max_length, validate=validate.Length(min=1), **kwargs)
    return field


SourceId = _text(100)  # the school's id of a record
Name = _text(100)


class Batch(Schema):
    batch_id = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9._:-]{1,100}$", error="1 to 100 letters, digits or . _ : -"), metadata={
        "description": "The sender's id of the batch: sent again, nothing applies twice."})
    # Each event is checked on its own (EventHead + its data schema), so one bad event is
    # reported by index instead of refusing the batch.
    events = fields.List(fields.Raw(metadata={"one_of": lambda: event_schemas()}),
                         required=True, validate=validate.Length(
        min=1, max=MAX_EVENTS_PER_BATCH,
        error=f"A batch holds 1 to {MAX_EVENTS_PER_BATCH} events."), metadata={
        "description": "The events, each checked on its own (an *Event schema by `type`)."})


class Rejection(Schema):
    index = fields.Integer(required=True, metadata={
        "description": "The event's index in the batch."})
    error = fields.String(required=True, metadata={
        "description": "Why it was refused: field names, never the values sent."})
    # The event's source id, so the school finds the record to correct (issue 24); absent
    # from batches before it, and None when the source id itself was not valid.
    source_id = fields.String(allow_none=True, metadata={
        "description": "The event's source id; null when it was not valid itself."})


class BatchResult(Schema):
    batch_id = fields.String(required=True, metadata={"description": "The batch's id."})
    accepted = fields.Integer(required=True, metadata={"description": "Events applied."})
    rejected = fields.List(fields.Nested(Rejection), required=True, metadata={
        "description": "The events refused, by index."})  # the events refused, by index


class BatchQuery(PageQuery):
    after = fields.String(load_default=None, validate=validate.Length(max=100), metadata={
        "description": "The previous page's `next` (a batch id): the batches after it."})
    school_id = fields.String(load_default=None, metadata={
        "description": "The school, for an admin of several."})  # for an admin of several schools


class BatchSummary(Schema):
    """A pushed batch (or OneRoster bundle) as the school sees it later: counts only."""
    batch_id = fields.String(required=True, metadata={"description": "The batch's id."})
    source = fields.String(required=True, metadata={"description": "push or oneroster."})
    received_at = fields.DateTime(required=True, metadata={"description": "When it was received."})
    events = fields.Integer(required=True, metadata={"description": "Events in it."})
    accepted = fields.Integer(required=True, metadata={"description": "Events applied."})
    rejected_count = fields.Integer(required=True, metadata={"description": "Events refused."})


class BatchDetail(BatchSummary):
    rejected = fields.List(fields.Nested(Rejection), required=True, metadata={
        "description": "The events refused: index and reason, as the push answered."})


BatchList = page_of(BatchSummary, "BatchList")


class Strict(Schema):
    """A pushed event's fields we do not know are refused, each by name (issue 24): a
    misspelt `yaer_group` or a field we never keep is the school's mistake to hear of,
    not to see dropped in silence. (The integration events between our services stay
    tolerant readers: shared.contracts.base.EventData.)"""

    class Meta:
        unknown = RAISE


class EventHead(Strict):
    type = fields.String(required=True)
    source_id = SourceId(required=True)
    data = fields.Dict(load_default=dict)


class StudentData(Strict):
    given_name = Name(required=True, metadata={"description": "The student's given name."})
    family_name = Name(required=True, metadata={"description": "The student's family name."})
    # Optional (issue 23): without one the student's links wait for it, and no link can be
    # confirmed; a later push that gives it makes them confirmable.
    date_of_birth = StrictDate(load_default=None, allow_none=True, metadata={
        "description": "The student's date of birth; without it no link can be confirmed."})
    form_group = SafeString(required=True, max_length=50, metadata={
        "description": "The student's form group."})
    # Optional: not known (OneRoster's `grades` is optional) shows as unknown.
    year_group = fields.Integer(load_default=None, allow_none=True, strict=True,
                                validate=validate.Range(*YEAR_GROUPS, error=(
                                    "A year group from 0 (Reception) to 13 (Year 13); "
                                    "leave it out when not known.")), metadata={
        "description": "The student's year group; null: not known."})
    email = SafeEmail(load_default=None, metadata={
        "description": "The student's email (for a student account)."})


class GuardianChild(Strict):
    student_id = SourceId(required=True, metadata={"description": "The child's source id."})
    relationship = SafeString(required=True, max_length=100, metadata={
        "description": "The school's word for the relationship (e.g. mother)."})
    receives_reports = fields.Boolean(required=True, metadata={
        "description": "Whether this guardian receives the child's reports."})


class GuardianData(Strict):
    given_name = Name(required=True, metadata={"description": "The guardian's given name."})
    family_name = Name(required=True, metadata={"description": "The guardian's family name."})
    email = SafeEmail(required=True, metadata={
        "description": "Where the guardian's invitation and report emails go."})
    students = fields.List(fields.Nested(GuardianChild), required=True,
                           validate=validate.Length(max=50), metadata={
        "description": "The guardian's children at the school."})


class StaffData(Strict):
    title = SafeString(required=True, max_length=50, metadata={
        "description": "The member of staff's title (e.g. Ms)."})
    given_name = Name(required=True, metadata={"description": "Their given name."})
    family_name = Name(required=True, metadata={"description": "Their family name."})
    email = SafeEmail(load_default=None, metadata={"description": "Accepted, not kept."})


class ClassData(Strict):
    name = SafeString(required=True, max_length=100, validate=validate.Length(min=1), metadata={
        "description": "The class's name."})
    subject = SafeString(required=True, max_length=100, validate=validate.Length(min=1), metadata={
        "description": "The subject taught."})
    teacher_ids = fields.List(SourceId(), required=True,
                              validate=validate.Length(max=MAX_REFERENCES), metadata={
        "description": "The teachers' source ids."})
    student_ids = fields.List(SourceId(), required=True,
                              validate=validate.Length(max=MAX_REFERENCES), metadata={
        "description": "The students' source ids."})


class AttainmentData(Strict):
    student_id = SourceId(required=True, metadata={"description": "The student's source id."})
    class_id = SourceId(required=True, metadata={"description": "The class's source id."})
    period = SafeString(required=True, max_length=100, validate=validate.Length(min=1), metadata={
        "description": "The reporting period (e.g. `2025-26 Autumn`)."})
    kind = fields.String(required=True, validate=validate.OneOf(("mark", "grade", "target")),
                         metadata={"description": "mark, grade or target."})
    value = SafeString(required=True, max_length=50, validate=validate.Length(min=1), metadata={
        "description": "The value as the school gives it."})
    out_of = fields.Float(load_default=None, allow_none=True,
                          validate=validate.Range(min=0, min_inclusive=False), metadata={
        "description": "A mark's maximum."})
    topic = SafeString(load_default=None, allow_none=True, max_length=200, metadata={
        "description": "What the mark was for."})


class CharacteristicData(Strict):
    student_id = SourceId(required=True, metadata={"description": "The student's source id."})
    class_id = SourceId(load_default=None, allow_none=True, metadata={
        "description": "The class's source id; null: not of a class."})
    period = SafeString(required=True, max_length=100, validate=validate.Length(min=1), metadata={
        "description": "The reporting period."})
    kind = fields.String(required=True, validate=validate.OneOf(
        ("attitude", "effort", "behaviour", "attendance")), metadata={
        "description": "attitude, effort, behaviour or attendance."})
    value = SafeString(required=True, max_length=50, validate=validate.Length(min=1), metadata={
        "description": "The value as the school gives it."})


class NoData(Strict):
    pass


# Built once: a marshmallow schema keeps no state between loads, and building one costs
# more than a load.
DATA_SCHEMAS: dict[str, Schema] = {
    "student.upserted": StudentData(), "guardian.upserted": GuardianData(),
    "staff.upserted": StaffData(), "class.upserted": ClassData(),
    "attainment.recorded": AttainmentData(), "characteristic.recorded": CharacteristicData(),
    "student.deleted": NoData(), "guardian.deleted": NoData(), "staff.deleted": NoData(),
    "class.deleted": NoData(),
}
EVENT_HEAD = EventHead()


@functools.cache
def event_schemas() -> tuple[type[Schema], ...]:
    """For the OpenAPI document alone (the events load as EventHead and DATA_SCHEMAS): each
    type of event as a schema of its own, named by its type (StudentUpsertedEvent, ...)."""
    def event(kind: str, data: Schema) -> type[Schema]:
        name = "".join(part.capitalize() for part in kind.replace(".", "_").split("_"))
        return Strict.from_dict({
            "type": fields.String(required=True, validate=validate.OneOf([kind]),
                                  metadata={"description": f"`{kind}`."}),
            "source_id": SourceId(required=True, metadata={
                "description": "The school system's id of the record."}),
            "data": fields.Nested(type(data), required=not isinstance(data, NoData),
                                  metadata={"description": "The record's fields." if not
                                            isinstance(data, NoData) else "Nothing."}),
        }, name=f"{name}Event")
    return tuple(event(kind, data) for kind, data in DATA_SCHEMAS.items())


class RosterSettings(Schema):
    """Which contacts receive reports when a OneRoster bundle says nothing about one (no
    `metadata.receivesReports` on their users row). Empty by default: none do."""
    report_contact_roles = fields.List(fields.String(validate=validate.OneOf(
        ("parent", "guardian", "relative"))), validate=validate.Length(max=3), metadata={
        "description": "Who gets reports when OneRoster does not say: parent, guardian, relative."})
    # A district or trust export: the school's own org sourcedIds (orgs.csv); rows of only
    # other orgs are not taken. A bundle with several schools needs it.
    school_org_ids = fields.List(SourceId(), validate=validate.Length(max=50), metadata={
        "description": "A district or trust export: the school's own org sourcedIds."})


class RosterSettingsOut(Schema):
    """The settings as they stand: both, always."""
    report_contact_roles = fields.List(fields.String(), required=True, metadata={
        "description": "Who receives reports when OneRoster does not say."})
    school_org_ids = fields.List(fields.String(), required=True, metadata={
        "description": "The school's own org sourcedIds (a district or trust export)."})


class RosterUploadResult(Schema):
    bundle_id = fields.String(required=True, metadata={"description": "The bundle's id."})
    files = fields.Dict(keys=fields.String(), values=fields.String(), required=True, metadata={
        "description": "Each file used: bulk or delta."})  # file -> bulk | delta
    rows = fields.Integer(allow_none=True, metadata={"description": "Rows read, or null."})
    events = fields.Integer(required=True, metadata={
        "description": "The events the roster came to, as in a JSON batch."})
    published = fields.Integer(required=True, metadata={
        "description": "Integration events published: what changed."})
    already_applied = fields.Boolean(required=True, metadata={
        "description": "The same bundle was applied before: nothing done."})
    ignored = fields.List(fields.Nested(ErrorRowSchema), metadata={
        "description": "Rows taken but not used: file, line and why."})
    # A district or trust export: rows not taken, per other org and file (no one named).
    other_orgs = fields.Dict(keys=fields.String(), values=fields.Dict(
        keys=fields.String(), values=fields.Integer()), metadata={
        "description": "Rows not taken, per other org and file."})  # org -> file -> rows not taken
    # A trust's client, several schools: school id -> that school's answer (as above).
    schools = fields.Dict(keys=fields.String(),
                          values=fields.Nested(lambda: RosterUploadResult()), metadata={
        "description": "A trust's upload: each school's answer, by school id."})


class RosterJobProgress(Schema):
    stage = fields.String(required=True, metadata={
        "description": "reading, checking, applying or saving."})
    done = fields.Integer(required=True, metadata={
        "description": "Rows or events of this stage done."})  # rows or events of this stage done …
    total = fields.Integer(required=True, metadata={"description": "Of these (0: not counted)."})
    percent = fields.Integer(required=True, metadata={
        "description": "Of the whole application, roughly."})  # of the whole application, roughly


class RosterJob(Schema):
    """A OneRoster upload, accepted (202) and applied by the worker."""
    job_id = fields.String(required=True, metadata={"description": "The job's id."})
    status = fields.String(required=True, metadata={
        "description": "queued, applying, applied, refused or failed."})
    status_url = fields.String(required=True, metadata={"description": "GET it for news."})
    received_at = fields.DateTime(required=True, metadata={
        "description": "When the bundle was received."})
    finished_at = fields.DateTime(allow_none=True, required=True, metadata={
        "description": "When it was applied, refused or failed; else null."})
    size = fields.Integer(required=True, metadata={"description": "Bytes of the zip."})
    schools = fields.List(fields.String(), required=True, metadata={
        "description": "The schools it is applied to."})  # the schools it is applied to
    progress = fields.Nested(RosterJobProgress, allow_none=True, required=True, metadata={
        "description": "While applying: how far; else null."})  # while applying
    result = fields.Nested(RosterUploadResult, allow_none=True, required=True, metadata={
        "description": "Once applied: the counts; else null."})  # once applied
    faults = fields.List(fields.Nested(ErrorRowSchema), required=True, metadata={
        "description": "Refused or failed: why, by file and line; else empty."})

