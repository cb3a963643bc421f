"""Subject-request rules, free of Flask and databases: deadlines and what each kind sends."""
from __future__ import annotations

import calendar
import datetime as dt
from enum import StrEnum

from shared.errors import Conflict


class Kind(StrEnum):
    ACCESS = "access"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"
    RESTRICTION = "restriction"
    PORTABILITY = "portability"
    OBJECTION = "objection"
    OFFBOARDING = "offboarding"  # SchoolOffboarded, tracked like a request; never filed


class Status(StrEnum):
    """A request's."""
    AWAITING = "awaiting_school"  # a parent's or student's, until the school approves
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"             # waiting on the requester: the deadline stops
    COMPLETED = "completed"
    REFUSED = "refused"
    FAILED = "failed"


class Answer(StrEnum):
    """One service's, to a request sent to it."""
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class Refused(Conflict):
    """The request cannot be made in this state (a clear 409)."""
    code = "refused"


KINDS = tuple(k for k in Kind if k is not Kind.OFFBOARDING)  # what may be filed
EXPORTS = (Kind.ACCESS, Kind.PORTABILITY)  # the kinds that leave an export to download
OPEN = (Status.AWAITING, Status.IN_PROGRESS, Status.PAUSED)
REQUEST_EVENTS = {"access": "AccessRequested", "portability": "AccessRequested",
                  "erasure": "ErasureRequested", "restriction": "ProcessingRestricted",
                  "objection": "ObjectionRecorded"}
ANSWERS = {"ErasureCompleted", "SubjectDataExported", "RestrictionApplied",
           "ObjectionApplied", "OffboardingCompleted"}
MAX_EXTENSION_MONTHS = 2
EXPORT_LIFETIME = dt.timedelta(days=7)  # how long a completed export can be downloaded
# Free text on a request (the filer's note, an admin's reasons): it may name anyone, so it
# goes with the erasure of the subject or of the requester.
FREE_TEXT = ("extension_reason", "refusal_reason")
NOTE = "note"


def resolvers(subject_type: str, by_id: bool) -> tuple[str, ...]:
    """The services that can confirm a subject is the filing school's: ingest keeps the
    records schools push (and resolves their source ids); a staff id may instead be one of
    the school's invited admins, which are accounts only identity knows."""
    if subject_type == "staff" and by_id:
        return ("identity", "ingest")
    return ("ingest",)


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """The same date `months` later; the last day of a shorter month (31 Jan -> 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def due_at(received_at: dt.datetime, extension_months: int = 0,
           paused_for: dt.timedelta = dt.timedelta(0)) -> dt.datetime:
    """One calendar month after receipt, plus any extension, plus time spent paused."""
    return add_months(received_at, 1 + extension_months) + paused_for


def days_left(due: dt.datetime, now: dt.datetime) -> int:
    return (due.date() - now.date()).days
