"""A school's guardian and student records as identity keeps them (a part of Identity,
service.py): each guardian (and each student with an account) a membership of the login of
their email, created and invited if new.

Every use case here takes a set of one school's records, as the consumer gathers a batch's
events of one type, and leaves what applying them one by one would leave, with a few
statements for the whole set: one code path for a single event and for a school's roster.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.db import among, insert_many, latest_versions
from shared.db_update import update_many
from shared.removals import Removals

from .domain import MembershipStatus
from .models import memberships, removed_records, students

log = logging.getLogger(__name__)
PENDING, ACCEPTED = MembershipStatus.PENDING, MembershipStatus.ACCEPTED


class Kind(NamedTuple):
    """What a kind of school record is to identity: the role its person's membership
    gives, and the membership's column naming the record."""
    role: str
    column: str


KINDS = {"guardian": Kind("parent", "guardian_id"), "student": Kind("student", "student_id")}


@dataclass(frozen=True)
class Record:
    """A school's guardian or student record naming its person's login."""
    record_id: str
    version: int
    email: str
    name: str


def _new(added: list[tuple[str, bool, str]], status: str) -> list[str]:
    """The logins with a new membership of this status."""
    return sorted({account_id for account_id, new, s in added if new and s == status})


class SchoolRecords:
    """GuardianRecorded, StudentRecorded, StudentAccountRequested and the removals."""
    clock: Callable[[], dt.datetime]

    # provided by the other parts of Identity
    active_school: Callable[..., Any]
    logins_for: Callable[..., dict[str, Any]]
    add_memberships: Callable[..., list[tuple[str, bool, str]]]
    remove_membership: Callable[..., int]
    issue_invitations: Callable[..., dict[str, dt.datetime | None]]
    _announce_activation: Callable[..., None]

    def record_guardians(self, session: Session, school_id: str,
                         items: Sequence[ev.GuardianRecorded]) -> None:
        """GuardianRecorded events of one school, in order."""
        self.active_school(session, school_id)
        self._record_logins(session, school_id, "guardian", [
            Record(d.guardian_id, d.record_version, d.email,
                   f"{d.given_name} {d.family_name}") for d in items])

    def _record_logins(self, session: Session, school_id: str, record_type: str,
                       records: Sequence[Record]) -> None:
        """A school's guardian or student records, each a membership of the login of its
        email (created and invited if new): pending, with the school's invitation, until
        the person accepts; moved when the school changes the email. Older versions, and
        records the school removed, change nothing."""
        role, column = KINDS[record_type]
        todo, current = self._to_apply(session, school_id, record_type, records)
        if not todo:
            return  # older versions arriving late, or removed records
        logins = self.logins_for(session, [r.email for r in todo])
        accounts = [logins[r.email].id for r in todo]
        for record, account_id in zip(todo, accounts):
            if current.get(record.record_id, account_id) != account_id:
                # The school changed the email: the relation moves to that login.
                self.remove_membership(session, school_id, **{column: record.record_id})
        added = self.add_memberships(session, school_id, role, [
            (account_id, record.name, record.version, {column: record.record_id})
            for record, account_id in zip(todo, accounts)])
        self.issue_invitations(session, school_id, _new(added, PENDING))
        for account_id in _new(added, ACCEPTED):  # accepted this school in this role before
            self._announce_activation(session, account_id, school_id, role)

    def _to_apply(self, session: Session, school_id: str, record_type: str,
                  records: Sequence[Record]) -> tuple[list[Record], dict[str, str]]:
        """The records that change something (each one's latest; not removed by the
        school, nor older than the membership), and the login each record's membership
        has now."""
        column = KINDS[record_type].column
        wanted = latest_versions(records, lambda r: r.record_id, lambda r: r.version)
        stale = Removals(removed_records).stale_among(
            session, record_type, {i: r.version for i, r in wanted.items()})
        m = memberships
        current = {r.record_id: r for r in session.execute(sa.select(
            m.c.account_id, m.c.record_version, m.c[column].label("record_id")).where(
            m.c.school_id == school_id, among(m.c[column], sorted(wanted)))).all()}
        todo = [r for i, r in sorted(wanted.items()) if i not in stale
                and not (i in current and current[i].record_version > r.version)]
        return todo, {i: row.account_id for i, row in current.items()}

    def _removed(self, session: Session, record_type: str, record_id: str,
                 version: int) -> bool:
        return Removals(removed_records).stale(session, record_type, record_id, version)

    def _held_version(self, session: Session, school_id: str, record_type: str,
                      record_id: str) -> int:
        """The newest record version this service holds of the record (0: none)."""
        column = KINDS[record_type].column
        m = memberships
        held = [session.execute(sa.select(sa.func.max(m.c.record_version)).where(
            m.c.school_id == school_id, m.c[column] == record_id)).scalar()]
        if record_type == "student":
            held.append(session.execute(sa.select(students.c.record_version).where(
                students.c.school_id == school_id,
                students.c.student_id == record_id)).scalar())
        return max((v for v in held if v is not None), default=0)

    def remove_record(self, session: Session, school_id: str, record_type: str,
                      record_id: str, version: int) -> None:
        """GuardianRemoved / StudentRemoved: the relation (and a login left with none)
        goes; the removal's version is kept so older events cannot undo it. A removal
        older than the record held (the school added the person back since) is late:
        it changes nothing."""
        if self._held_version(session, school_id, record_type, record_id) > version:
            return
        Removals(removed_records).remember(session, school_id, record_type, record_id,
                                           version)
        self.remove_membership(session, school_id, **{f"{record_type}_id": record_id})
        if record_type == "student":
            session.execute(students.delete().where(students.c.school_id == school_id,
                                                    students.c.student_id == record_id))

    def record_students(self, session: Session, school_id: str,
                        items: Sequence[ev.StudentRecorded]) -> None:
        """StudentRecorded events of one school, in order: the name on a student's
        membership, and kept until the account request where students get accounts."""
        school = self.active_school(session, school_id)
        wanted = latest_versions(items, lambda d: d.student_id, lambda d: d.record_version)
        stale = Removals(removed_records).stale_among(
            session, "student", {i: d.record_version for i, d in wanted.items()})
        rows = [{"student_id": i, "record_version": d.record_version,
                 "name": f"{d.given_name} {d.family_name}"}
                for i, d in sorted(wanted.items()) if i not in stale]
        if not rows:
            return
        # One statement for the batch: a name where the student's membership is not newer.
        update_many(session, memberships, ("student_id",), rows,
                    memberships.c.school_id == school_id, not_older="record_version")
        if school.student_accounts:  # names are kept only where students get accounts
            self._keep_student_names(session, school_id, rows)

    def _keep_student_names(self, session: Session, school_id: str,
                            rows: list[dict[str, Any]]) -> None:
        s = students
        kept = set(session.execute(sa.select(s.c.student_id).where(
            s.c.school_id == school_id,
            among(s.c.student_id, [r["student_id"] for r in rows]))).scalars())
        insert_many(session, s, [{"school_id": school_id, **r} for r in rows
                                 if r["student_id"] not in kept])
        update_many(session, s, ("student_id",), [r for r in rows if r["student_id"] in kept],
                    s.c.school_id == school_id, not_older="record_version")

    def request_student_account(self, session: Session, school_id: str,
                                data: ev.StudentAccountRequested) -> None:
        school = self.active_school(session, school_id)
        if not school.student_accounts:
            return  # the school has not enabled student accounts: nothing is kept
        name = session.execute(sa.select(students.c.name).where(
            students.c.school_id == school_id,
            students.c.student_id == data.student_id)).scalar() or "Student"
        self._record_logins(session, school_id, "student", [
            Record(data.student_id, data.record_version, data.email, name)])
