"""One marshmallow schema per integration event (DESIGN.md catalogue), version 1.

Version 1 of an event is provisional until the issue that produces it lands; after that a
change is additive or a new version. Personal data travels only to consumers that hold it by
the DESIGN.md table, which is why a pushed student is split into several events.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from .base import (ANY_PRODUCER, EVERY_PARTICIPANT, EVERY_SERVICE, RIGHTS, SECRET, Contract,
                   EventData, RecordEvent, Subject)
from ..i18n import LANGUAGES
from .fields import SafeEmail, SafeString, StrictDate, UtcDateTime, UuidString


# --- tenants (identity) -------------------------------------------------------------
class SchoolActivated(EventData):
    """A new school, and again whenever its name or office contact changes."""
    school_id = UuidString(required=True)
    name = SafeString(required=True)
    student_accounts = fields.Boolean(load_default=False)
    office_email = SafeString(allow_none=True, load_default=None, max_length=320)
    office_phone = SafeString(allow_none=True, load_default=None, max_length=50)
    # The language the school writes to families in first (a Welsh-medium school: "cy"):
    # emails to a person whose own choice is not known are bilingual, this one first.
    default_language = fields.String(load_default="en", validate=validate.OneOf(LANGUAGES))


class LanguageChosen(EventData):
    """The language a login chose (at activation or later): every email to that person is
    in it. Sent again whenever it changes; erased with the account."""
    account_id = UuidString(required=True)
    language = fields.String(required=True, validate=validate.OneOf(LANGUAGES))


class SchoolOffboarded(EventData):
    """Itself the request: every participant erases the whole school and answers."""
    school_id = UuidString(required=True)


# --- school data (ingest) -----------------------------------------------------------
class StudentRecorded(RecordEvent):
    """A student of the school, new or with a changed name."""
    student_id = UuidString(required=True)
    given_name = SafeString(required=True)
    family_name = SafeString(required=True)


class StudentPlacementRecorded(RecordEvent):
    """A student's form group and year group, new or changed."""
    student_id = UuidString(required=True)
    form_group = SafeString(required=True, max_length=50)
    year_group = fields.Integer(required=True, strict=True, allow_none=True)  # None: unknown


class StudentAccountRequested(RecordEvent):
    """Only identity holds a student's email (for a student account)."""
    student_id = UuidString(required=True)
    email = SafeEmail(required=True)


class StudentBirthDateRecorded(RecordEvent):
    """The date of birth travels only here, and only linking consumes it."""
    student_id = UuidString(required=True)
    date_of_birth = StrictDate(required=True)


class StudentRemoved(RecordEvent):
    """A student no longer on the school's roll: their records go."""
    student_id = UuidString(required=True)


class GuardianRecorded(RecordEvent):
    """A parent or carer of the school, new or with a changed name or email."""
    guardian_id = UuidString(required=True)
    given_name = SafeString(required=True)
    family_name = SafeString(required=True)
    email = SafeEmail(required=True)


class GuardianStudent(EventData):
    student_id = UuidString(required=True)
    relationship = SafeString(required=True, max_length=100)
    receives_reports = fields.Boolean(required=True)


class GuardianStudentsRecorded(RecordEvent):
    """The students a guardian is responsible for, the whole list each time."""
    guardian_id = UuidString(required=True)
    students = fields.List(fields.Nested(GuardianStudent), required=True)


class GuardianRemoved(RecordEvent):
    """A guardian no longer known to the school: their records go."""
    guardian_id = UuidString(required=True)


class StaffRecorded(RecordEvent):
    """A member of staff, new or with a changed title or name."""
    staff_id = UuidString(required=True)
    title = SafeString(required=True, max_length=50)
    given_name = SafeString(required=True)
    family_name = SafeString(required=True)


class StaffRemoved(RecordEvent):
    """A member of staff who left the school."""
    staff_id = UuidString(required=True)


class ClassRecorded(RecordEvent):
    """A class: its name, subject, teachers and students, new or changed."""
    class_id = UuidString(required=True)
    name = SafeString(required=True)
    subject = SafeString(required=True)
    teacher_ids = fields.List(UuidString(), required=True)
    student_ids = fields.List(UuidString(), required=True)


class ClassRemoved(RecordEvent):
    """A class the school no longer teaches."""
    class_id = UuidString(required=True)


class AttainmentRecorded(RecordEvent):
    """A student's mark, grade or target in a class for a period."""
    attainment_id = UuidString(required=True)
    student_id = UuidString(required=True)
    class_id = UuidString(required=True)
    period = SafeString(required=True, max_length=100)
    kind = fields.String(required=True, validate=validate.OneOf(("mark", "grade", "target")))
    value = SafeString(required=True, max_length=50)
    out_of = fields.Float(load_default=None, allow_none=True)
    topic = SafeString(load_default=None, allow_none=True)


class CharacteristicRecorded(RecordEvent):
    """A student's attitude, effort, behaviour or attendance for a period."""
    characteristic_id = UuidString(required=True)
    student_id = UuidString(required=True)
    class_id = UuidString(load_default=None, allow_none=True)
    period = SafeString(required=True, max_length=100)
    kind = fields.String(required=True, validate=validate.OneOf(
        ("attitude", "effort", "behaviour", "attendance")))
    value = SafeString(required=True, max_length=50)


class ResultsRecorded(EventData):
    """A pushed batch's attainment and characteristics about one student, as one event.

    A term is mostly results (about 70 a student): one event each made the envelope, the
    outbox and inbox rows and the checks cost more than the result itself. Each item is
    the data of an AttainmentRecorded or CharacteristicRecorded, with its own
    record_version, less the student_id the event carries once. At most RESULTS_PER_EVENT
    items travel in one event; a student with more gets several."""
    student_id = UuidString(required=True)
    attainment = fields.List(fields.Nested(AttainmentRecorded, exclude=("student_id",)),
                             load_default=list)
    characteristics = fields.List(
        fields.Nested(CharacteristicRecorded, exclude=("student_id",)), load_default=list)


RESULTS_PER_EVENT = 500


# --- accounts (identity) ------------------------------------------------------------
REVOCATION_REASONS = ("logout", "refresh_reuse", "password_reset", "account_removed",
                      "membership_removed", "client_revoked", "second_factor_reset",
                      "passkey_removed")

class InvitationIssued(EventData):
    """A school's invitation to one login, to accept its memberships there in `role` (the
    name is the one that school recorded). Carries the token once (a secret: blanked
    wherever the event rests); identity keeps only its hash, notifications drops it with
    the mail's body once sent. `existing_login`: the person accepts with the password they
    already have instead of choosing one. `guardian_ids` and `student_ids`: the school's
    records the login is invited for (the mail belongs to them, and goes with their
    erasure)."""
    invitation_id = UuidString(required=True)
    account_id = UuidString(required=True)
    role = fields.String(required=True)
    guardian_ids = fields.List(UuidString(), load_default=list)
    student_ids = fields.List(UuidString(), load_default=list)
    name = SafeString(required=True)
    email = SafeEmail(required=True)
    token = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{20,200}$"),
                          metadata=SECRET)
    expires_at = UtcDateTime(required=True)
    existing_login = fields.Boolean(load_default=False)


class PasswordResetRequested(EventData):
    """Carries the reset token once (like InvitationIssued); identity keeps its hash."""
    reset_id = UuidString(required=True)
    account_id = UuidString(required=True)
    name = SafeString(required=True)
    email = SafeEmail(required=True)
    token = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{20,200}$"),
                          metadata=SECRET)
    expires_at = UtcDateTime(required=True)


SECOND_FACTOR_KINDS = ("added", "replaced", "removed", "reset")
SECOND_FACTOR_TYPES = ("totp", "recovery_codes", "passkey")


class SecondFactorChanged(EventData):
    """A login's second factor changed: an authenticator app (`totp`), its recovery codes
    or a passkey added, replaced by the owner, removed, or reset by someone else (`by_role`:
    school_admin or operator). notifications mails the person each time, naming no secret
    (a change they did not make is how a stolen sign-in shows). `name` and `email` as
    PasswordResetRequested carries them."""
    account_id = UuidString(required=True)
    name = SafeString(required=True)
    email = SafeEmail(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(SECOND_FACTOR_KINDS))
    factor = fields.String(required=True, validate=validate.OneOf(SECOND_FACTOR_TYPES))
    by_role = fields.String(load_default=None, allow_none=True,
                            validate=validate.OneOf(("school_admin", "operator")))
    at = UtcDateTime(required=True)


class TokensRevoked(EventData):
    """Access tokens that stop working before they expire: those of `subject_id` (the
    token's `sub`: an account or a school-system client) issued before `revoked_before`,
    or only those of one sign-in when `session_id` (the token's `sid`) is given. Every
    service keeps it until `expires_at`, when every token it names has expired anyway."""
    subject_id = UuidString(required=True)
    session_id = UuidString(load_default=None, allow_none=True)
    revoked_before = UtcDateTime(required=True)
    expires_at = UtcDateTime(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(REVOCATION_REASONS))


class AccountActivated(EventData):
    """The guardian and student ids of every membership the login's person has accepted
    (the full set: one left out is no longer the login's), sent when the set changes.
    `role`: the role of the membership accepted or removed at the envelope's school."""
    account_id = UuidString(required=True)
    role = fields.String(required=True)
    guardian_ids = fields.List(UuidString(), load_default=list)
    student_ids = fields.List(UuidString(), load_default=list)
    # Each of those records' school (record id -> school id): a parent at two schools
    # files a request at the school whose record it is.
    record_schools = fields.Dict(keys=UuidString(), values=UuidString(), load_default=dict)


# --- links (linking) ----------------------------------------------------------------
class LinkEvent(RecordEvent):
    link_id = UuidString(required=True)
    account_id = UuidString(required=True)
    guardian_id = UuidString(required=True)
    student_id = UuidString(required=True)


class ParentVerified(LinkEvent):
    """A parent confirmed the child's date of birth: the link to the child is active."""


class LinkRevoked(LinkEvent):
    """A parent's link to a child was ended: the parent no longer sees the child."""


class LinkLocked(LinkEvent):
    """A link locked after too many wrong dates of birth; the school can unlock it."""
    student_name = SafeString(allow_none=True, load_default=None)  # for the admins' mail


# --- reports ------------------------------------------------------------------------
class ReportPublished(EventData):
    """A student's report for a period was published to their parents."""
    report_id = UuidString(required=True)
    student_id = UuidString(required=True)
    period = SafeString(required=True, max_length=100)
    title = SafeString(required=True)
    published_at = UtcDateTime(required=True)
    student_name = SafeString(allow_none=True, load_default=None)  # the parents' mail names it


class ReportCorrected(EventData):
    """A report parents were told of was replaced by a corrected one (`report_id`)."""
    report_id = UuidString(required=True)
    replaces = UuidString(required=True)
    student_id = UuidString(required=True)
    period = SafeString(required=True, max_length=100)
    title = SafeString(required=True)
    updated_at = UtcDateTime(required=True)
    notify = fields.Boolean(required=True)  # the school chose to tell those told before
    student_name = SafeString(allow_none=True, load_default=None)


class ReportWithdrawn(EventData):
    """A published report was withdrawn: parents no longer see it."""
    report_id = UuidString(required=True)
    student_id = UuidString(required=True)


# --- rights (dsar asks, every participant answers) ----------------------------------
class RightsRequest(EventData):
    subject = fields.Nested(Subject, required=True)
    subject_request_id = UuidString(required=True)  # dsar's request, for the audit trail


class ErasureRequested(RightsRequest):
    """dsar asks every participant to erase a subject's personal data."""
    # The subject asked themselves (a parent their own record, a student theirs): a
    # service that erases their address holds back word of the completion (issue 30).
    by_subject = fields.Boolean(load_default=False)


class AccessRequested(RightsRequest):
    """dsar asks every participant for its part of a subject's data."""


class ProcessingRestricted(RightsRequest):
    """dsar asks every participant to restrict processing of a subject's data."""


class RestrictionLifted(RightsRequest):
    """dsar asks every participant to lift a subject's restriction."""


class ObjectionRecorded(RightsRequest):
    """dsar asks every participant to stop a processing the subject objected to."""
    processing = fields.String(required=True, validate=validate.OneOf(("report_emails",)))


class SubjectIdRequested(EventData):
    """dsar asks which id the school's source id of a record has, or whether an id is a
    subject of that school at all (a request must not reach another school's people).
    Ingest answers for the records schools push; identity also answers for a staff id,
    since a school's invited admins are accounts, not pushed records."""
    request_id = UuidString(required=True)
    subject_type = fields.String(required=True, validate=validate.OneOf(
        ("student", "guardian", "staff")))
    source_id = SafeString(load_default=None, allow_none=True, max_length=100)
    subject_id = UuidString(load_default=None, allow_none=True)


class SubjectIdResolved(EventData):
    """The answer of one service that keeps the school's subjects (the envelope's
    producer): the subject's id, or None when it knows no such subject of that school."""
    request_id = UuidString(required=True)
    subject_id = UuidString(load_default=None, allow_none=True)


_COMPACT_JWS = r"^[A-Za-z0-9_-]{1,200}\.[A-Za-z0-9_-]{1,8000}\.[A-Za-z0-9_-]{86}$"


class RightsAnswer(EventData):
    request_id = UuidString(required=True)  # the id of the event answered
    service = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(("done", "failed")))
    reason = SafeString(load_default=None, allow_none=True, max_length=500)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), load_default=dict)
    # The answer signed by the answering service (a compact JWS, shared/receipts): the
    # school's receipt carries it as it is (issue 30). None from a service of before.
    signature = fields.String(load_default=None, allow_none=True,
                              validate=validate.Regexp(_COMPACT_JWS))


class ErasureCompleted(RightsAnswer):
    """A participant's answer: it erased the subject's personal data."""


class RestrictionApplied(RightsAnswer):
    """A participant's answer: the restriction is applied (or lifted)."""
    restricted = fields.Boolean(required=True)


class ObjectionApplied(RightsAnswer):
    """A participant's answer: the processing objected to has stopped."""


class OffboardingCompleted(RightsAnswer):
    """A participant's answer: it erased the whole school."""


class SubjectDataExported(RightsAnswer):
    """One service's part of an access request: its tables, rows as JSON objects."""
    tables = fields.Dict(keys=fields.String(),
                         values=fields.List(fields.Dict(keys=fields.String())),
                         load_default=dict)


class SubjectRequestClosed(EventData):
    """dsar: a request completed or was refused (issue 30), for notifications to tell the
    requester, or, for an offboarding, to mail the certificate to the school's office.
    Ids only, beside the school's reason for a refusal (shown to the requester) and the
    offboarding's certificate (a JWS with no personal data in it)."""
    request_id = UuidString(required=True)  # dsar's request (subject_request_id)
    kind = fields.String(required=True, validate=validate.OneOf((
        "access", "rectification", "erasure", "restriction", "portability", "objection",
        "offboarding")))
    outcome = fields.String(required=True, validate=validate.OneOf(("completed", "refused")))
    reason = SafeString(load_default=None, allow_none=True, max_length=500)
    filed_by = UuidString(load_default=None, allow_none=True)  # the requester's login
    filed_as = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(
        ("school_admin", "parent", "student")))
    lift = fields.Boolean(load_default=False)  # a restriction request that lifted one
    certificate = SafeString(load_default=None, allow_none=True, max_length=200_000)


class ExportReleased(EventData):
    """dsar: the school released the copy of data of a completed access or portability
    request to the parent or student who asked (issue 24), who downloads it in the app
    until it expires; notifications tells them, in their language, naming the subject and
    the school. Ids only, and when the copy expires."""
    request_id = UuidString(required=True)  # dsar's request (subject_request_id)
    kind = fields.String(required=True, validate=validate.OneOf(("access", "portability")))
    filed_by = UuidString(required=True)  # the requester's login
    filed_as = fields.String(required=True, validate=validate.OneOf(("parent", "student")))
    subject = fields.Nested(Subject, required=True)  # whom the copy is about
    expires_at = UtcDateTime(required=True)  # the download ends then


class AuditCheckpointed(EventData):
    """dsar: its audit chain's head after an entry was appended (issue 30), for a service
    with a database of its own to witness: the entry's number, the hash before it and its
    own, and the same signed by dsar's receipt key (a JWS, `typ`
    pp-audit-checkpoint+jws). The witness keeps the newest head that extends the one it
    holds, so entries cut from dsar's database (its tail with the head moved back) no
    longer match what was witnessed. Hashes and a number only: no personal data."""
    seq = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    prev = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    hash = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    checkpoint = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9_-]{1,500}\.[A-Za-z0-9_-]{1,1000}\.[A-Za-z0-9_-]{1,200}$"))


def _c(schema: type[Schema], producer: str, consumers: tuple[str, ...] | str,
       channel: str = "data") -> Contract:
    return Contract(schema.__name__, 1, producer, schema, consumers, channel)


CONTRACTS: tuple[Contract, ...] = (
    # Ingest needs no list of schools: a school system's token names its school.
    _c(SchoolActivated, "identity", ("notifications", "dsar")),
    _c(LanguageChosen, "identity", ("notifications",)),
    _c(SchoolOffboarded, "identity", (EVERY_PARTICIPANT, "dsar"), RIGHTS),
    _c(StudentRecorded, "ingest", ("identity", "linking", "reports", "notifications")),
    _c(StudentPlacementRecorded, "ingest", ("reports",)),
    _c(StudentAccountRequested, "ingest", ("identity",)),
    _c(StudentBirthDateRecorded, "ingest", ("linking",)),
    _c(StudentRemoved, "ingest", ("identity", "linking", "reports", "notifications", "dsar")),
    _c(GuardianRecorded, "ingest", ("identity", "notifications")),
    _c(GuardianStudentsRecorded, "ingest", ("linking",)),
    _c(GuardianRemoved, "ingest", ("identity", "linking", "notifications")),
    _c(StaffRecorded, "ingest", ("reports",)),
    _c(StaffRemoved, "ingest", ("reports",)),
    _c(ClassRecorded, "ingest", ("reports",)),
    _c(ClassRemoved, "ingest", ("reports",)),
    _c(AttainmentRecorded, "ingest", ("reports",)),
    _c(CharacteristicRecorded, "ingest", ("reports",)),
    _c(ResultsRecorded, "ingest", ("reports",)),
    _c(InvitationIssued, "identity", ("notifications",)),
    _c(PasswordResetRequested, "identity", ("notifications",)),
    _c(SecondFactorChanged, "identity", ("notifications",)),
    # On the rights channel: a school's data backlog never delays a sign-out.
    _c(TokensRevoked, "identity", (EVERY_SERVICE,), RIGHTS),
    # dsar keeps which subjects a parent or student may file about.
    _c(AccountActivated, "identity", ("linking", "reports", "notifications", "dsar")),
    _c(ParentVerified, "linking", ("reports", "notifications", "dsar")),
    _c(LinkRevoked, "linking", ("reports", "notifications", "dsar")),
    _c(LinkLocked, "linking", ("reports", "notifications", "dsar")),
    _c(ReportPublished, "reports", ("notifications",)),
    _c(ReportCorrected, "reports", ("notifications",)),
    _c(ReportWithdrawn, "reports", ("notifications",)),
    _c(SubjectIdRequested, "dsar", ("ingest", "identity"), RIGHTS),
    _c(SubjectIdResolved, ANY_PRODUCER, ("dsar",), RIGHTS),
    _c(ErasureRequested, "dsar", (EVERY_PARTICIPANT,), RIGHTS),
    _c(AccessRequested, "dsar", (EVERY_PARTICIPANT,), RIGHTS),
    _c(ProcessingRestricted, "dsar", (EVERY_PARTICIPANT,), RIGHTS),
    _c(RestrictionLifted, "dsar", (EVERY_PARTICIPANT,), RIGHTS),
    _c(ObjectionRecorded, "dsar", (EVERY_PARTICIPANT,), RIGHTS),
    _c(ErasureCompleted, ANY_PRODUCER, ("dsar",), RIGHTS),
    _c(SubjectDataExported, ANY_PRODUCER, ("dsar",), RIGHTS),
    _c(RestrictionApplied, ANY_PRODUCER, ("dsar",), RIGHTS),
    _c(ObjectionApplied, ANY_PRODUCER, ("dsar",), RIGHTS),
    _c(OffboardingCompleted, ANY_PRODUCER, ("dsar",), RIGHTS),
    _c(SubjectRequestClosed, "dsar", ("notifications",), RIGHTS),
    _c(ExportReleased, "dsar", ("notifications",), RIGHTS),
    # The audit chain's head, witnessed outside dsar's database (issue 30).
    _c(AuditCheckpointed, "dsar", ("notifications",), RIGHTS),
)
