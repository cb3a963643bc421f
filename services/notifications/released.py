"""A copy of data released to the requester (issue 24): the parent or student who asked is
told, in their language, that it is ready to download in the app and until when, naming
whom it is about and the school. dsar's ExportReleased carries ids only: the requester's
address is notifications' own (their guardian record, or a student's login from their
invitation), and a student's name is kept from StudentRecorded."""
from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.db import upsert_versioned_many
from shared.messaging.envelope import Envelope
from shared.rights.participant import lock_school_data

from . import languages, templates
from .models import guardians, student_contacts, student_names

if TYPE_CHECKING:
    from .service import Notifications

log = logging.getLogger(__name__)


def record_student_names(session: Session,
                         items: list[tuple[str, ev.StudentRecorded]]) -> None:
    """StudentRecorded events (school, data), in order: each student's name, the newest
    record version kept; one statement for the whole set."""
    upsert_versioned_many(session, student_names, "student_id", [
        {"student_id": data.student_id, "school_id": school_id,
         "name": f"{data.given_name} {data.family_name}",
         "record_version": data.record_version} for school_id, data in items])


def forget_student_name(session: Session, school_id: str, student_id: str,
                        record_version: int) -> None:
    """StudentRemoved: the school no longer holds the student; nor does this copy (unless
    the removal is older than the name held: the school added the student back since).
    The row stays without the name, with the removal's version, so that an older
    StudentRecorded arriving after it does not bring the name back."""
    upsert_versioned_many(session, student_names, "student_id", [{
        "student_id": student_id, "school_id": school_id, "name": None,
        "record_version": record_version}])


def requester_contact(session: Session, school_id: str | None, filed_by: str,
                      filed_as: str | None) -> Any:
    """The name and address of the parent or student who filed (this school's first)."""
    contacts = student_contacts if filed_as == "student" else guardians
    key = contacts.c.student_id if contacts is student_contacts else contacts.c.guardian_id
    return session.execute(
        sa.select(contacts.c.name, contacts.c.email).where(contacts.c.account_id == filed_by)
        .order_by((contacts.c.school_id == school_id).desc(), key).limit(1)).first()


def subject_name(session: Session, subject: ev.Subject) -> str | None:
    """Whom a request is about, by the name the school recorded (None: not known here)."""
    found = {"student": (student_names, student_names.c.student_id),
             "guardian": (guardians, guardians.c.guardian_id)}.get(subject.type)
    if found is None:
        return None
    table, key = found
    name = session.execute(sa.select(table.c.name).where(
        key == subject.id, table.c.school_id == subject.school_id)).scalar()
    return str(name) if name else None


def school_open(n: Notifications, session: Session, school_id: str | None,
                request_id: str) -> bool:
    """Whether a requester's mail may be written for this school: taken under the school's
    data lock as a data event takes it, so an erasure or offboarding there either comes
    after the mail (and takes it) or before the contact is read (and leaves none); none for
    a school offboarded meanwhile (its people's addresses here are gone)."""
    lock_school_data(session, [school_id], shared=True)
    if n.participant.is_offboarded(session, school_id):
        log.info("no mail for a request of an offboarded school request_id=%s school_id=%s",
                 request_id, school_id)
        return False
    return True


def on_export_released(n: Notifications, session: Session, envelope: Envelope,
                       data: ev.ExportReleased) -> None:
    """The requester's mail, once per release (the event's id), in their language; it
    goes with the erasure of whom it is about (student_id or guardian_id)."""
    school_id = envelope.school_id
    if not school_open(n, session, school_id, data.request_id):
        return
    contact = requester_contact(session, school_id, data.filed_by, data.filed_as)
    if contact is None:
        log.info("no address for the requester request_id=%s filed_as=%s",
                 data.request_id, data.filed_as)
        return
    school = n.school(session, school_id)
    about = data.subject
    n._queue(session, envelope.id, f"account:{data.filed_by}", school_id, "export_released",
             contact.email, templates.export_released(
                 n.settings.public_url, contact.name, data.request_id,
                 subject_name(session, about), _day(data.expires_at), school,
                 languages=languages.for_login(session, data.filed_by,
                                               school.default_language)),
             student_id=about.id if about.type == "student" else None,
             guardian_id=about.id if about.type == "guardian" else None)


def _day(value: dt.datetime) -> dt.date:
    return value.astimezone(dt.timezone.utc).date()
