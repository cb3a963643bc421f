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
        r"^[A-Za-z0-9._:-]{1,100}$", error="1 to 100 letters, digits or . _ : -"))
    # Each event is checked on its own (EventHead + its data schema), so one bad event is
    # reported by index instead of refusing the batch.
    events = fields.List(fields.Raw(metadata={"one_of": lambda: event_schemas()}),
                         required=True, validate=validate.Length(
        min=1, max=MAX_EVENTS_PER_BATCH,
        error=f"A batch holds 1 to {MAX_EVENTS_PER_BATCH} events."))


class Rejection(Schema):
    index = fields.Integer()
    error = fields.String()
    # The event's source id, so the school finds the record to correct (issue 24); absent
    # from batches before it, and None when the source id itself was not valid.
    source_id = fields.String(allow_none=True)


class BatchResult(Schema):
    batch_id = fields.String()
    accepted = fields.Integer()
    rejected = fields.List(fields.Nested(Rejection))  # the events refused, by index


class BatchQuery(PageQuery):
    after = fields.String(load_default=None, validate=validate.Length(max=100))  # a batch id
    school_id = fields.String(load_default=None)  # for an admin of several schools


class BatchSummary(Schema):
    """A pushed batch (or OneRoster bundle) as the school sees it later: counts only."""
    batch_id = fields.String()
    source = fields.String()  # push | oneroster
    received_at = fields.DateTime()
    events = fields.Integer()
    accepted = fields.Integer()
    rejected_count = fields.Integer()


class BatchDetail(BatchSummary):
    rejected = fields.List(fields.Nested(Rejection))  # as the push answered: index, error


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
    given_name = Name(required=True)
    family_name = Name(required=True)
    # Optional (issue 23): without one the student's links wait for it, and no link can be
    # confirmed; a later push that gives it makes them confirmable.
    date_of_birth = StrictDate(load_default=None, allow_none=True)
    form_group = SafeString(required=True, max_length=50)
    # Optional: not known (OneRoster's `grades` is optional) shows as unknown.
    year_group = fields.Integer(load_default=None, allow_none=True, strict=True,
                                validate=validate.Range(*YEAR_GROUPS, error=(
                                    "A year group from 0 (Reception) to 13 (Year 13); "
                                    "leave it out when not known.")))
    email = SafeEmail(load_default=None)


class GuardianChild(Strict):
    student_id = SourceId(required=True)
    relationship = SafeString(required=True, max_length=100)
    receives_reports = fields.Boolean(required=True)


class GuardianData(Strict):
    given_name = Name(required=True)
    family_name = Name(required=True)
    email = SafeEmail(required=True)
    students = fields.List(fields.Nested(GuardianChild), required=True,
                           validate=validate.Length(max=50))


class StaffData(Strict):
    title = SafeString(required=True, max_length=50)
    given_name = Name(required=True)
    family_name = Name(required=True)
    email = SafeEmail(load_default=None)  # accepted, not kept: no service needs it


class ClassData(Strict):
    name = SafeString(required=True, max_length=100, validate=validate.Length(min=1))
    subject = SafeString(required=True, max_length=100, validate=validate.Length(min=1))
    teacher_ids = fields.List(SourceId(), required=True,
                              validate=validate.Length(max=MAX_REFERENCES))
    student_ids = fields.List(SourceId(), required=True,
                              validate=validate.Length(max=MAX_REFERENCES))


class AttainmentData(Strict):
    student_id = SourceId(required=True)
    class_id = SourceId(required=True)
    period = SafeString(required=True, max_length=100, validate=validate.Length(min=1))
    kind = fields.String(required=True, validate=validate.OneOf(("mark", "grade", "target")))
    value = SafeString(required=True, max_length=50, validate=validate.Length(min=1))
    out_of = fields.Float(load_default=None, allow_none=True,
                          validate=validate.Range(min=0, min_inclusive=False))
    topic = SafeString(load_default=None, allow_none=True, max_length=200)


class CharacteristicData(Strict):
    student_id = SourceId(required=True)
    class_id = SourceId(load_default=None, allow_none=True)
    period = SafeString(required=True, max_length=100, validate=validate.Length(min=1))
    kind = fields.String(required=True, validate=validate.OneOf(
        ("attitude", "effort", "behaviour", "attendance")))
    value = SafeString(required=True, max_length=50, validate=validate.Length(min=1))


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
            "type": fields.String(required=True, validate=validate.OneOf([kind])),
            "source_id": SourceId(required=True),
            "data": fields.Nested(type(data), required=not isinstance(data, NoData)),
        }, name=f"{name}Event")
    return tuple(event(kind, data) for kind, data in DATA_SCHEMAS.items())


class RosterSettings(Schema):
    """Which contacts receive reports when a OneRoster bundle says nothing about one (no
    `metadata.receivesReports` on their users row). Empty by default: none do."""
    report_contact_roles = fields.List(fields.String(validate=validate.OneOf(
        ("parent", "guardian", "relative"))), validate=validate.Length(max=3))
    # A district or trust export: the school's own org sourcedIds (orgs.csv); rows of only
    # other orgs are not taken. A bundle with several schools needs it.
    school_org_ids = fields.List(SourceId(), validate=validate.Length(max=50))


class RosterUploadResult(Schema):
    bundle_id = fields.String()
    files = fields.Dict(keys=fields.String(), values=fields.String())  # file -> bulk | delta
    rows = fields.Integer(allow_none=True)
    events = fields.Integer()  # pushed events the roster came to, as in a JSON batch
    published = fields.Integer()  # integration events published: what changed
    already_applied = fields.Boolean()
    ignored = fields.List(fields.Nested(ErrorRowSchema))  # taken, not used: file, line, why
    # A district or trust export: rows not taken, per other org and file (no one named).
    other_orgs = fields.Dict(keys=fields.String(), values=fields.Dict(
        keys=fields.String(), values=fields.Integer()))  # org -> file -> rows not taken
    # A trust's client, several schools: school id -> that school's answer (as above).
    schools = fields.Dict(keys=fields.String(),
                          values=fields.Nested(lambda: RosterUploadResult()))


class RosterJobProgress(Schema):
    stage = fields.String()  # reading | checking | applying | saving
    done = fields.Integer()  # rows or events of this stage done …
    total = fields.Integer()  # … of these (0: not counted)
    percent = fields.Integer()  # of the whole application, roughly


class RosterJob(Schema):
    """A OneRoster upload, accepted (202) and applied by the worker."""
    job_id = fields.String()
    status = fields.String()  # queued | applying | applied | refused | failed
    status_url = fields.String()  # GET it for news
    received_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    size = fields.Integer()  # bytes of the zip
    schools = fields.List(fields.String())  # the schools it is applied to
    progress = fields.Nested(RosterJobProgress, allow_none=True)  # while applying
    result = fields.Nested(RosterUploadResult, allow_none=True)  # once applied
    faults = fields.List(fields.Nested(ErrorRowSchema))  # refused or failed: why

