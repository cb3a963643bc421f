"""Linking use cases: the school's records become pending links; parents verify them; the
school unlocks and revokes. Events go to the outbox in the same transaction."""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from collections.abc import Callable, Collection, Sequence
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.db import (advisory_lock, advisory_locks, among, insert_many, latest_versions,
                       upsert_versioned_many, utcnow)
from shared.errors import NotFound
from shared.messaging.outbox import Outbox
from shared.pages import Key, Page, keyset_page
from shared.removals import Removals
from shared.rights import RightsParticipant

from . import domain
from .domain import LOCKED, PENDING, REVOKED, RevokedBy
from .models import (guardian_accounts, guardian_students, guardians, links, removed_records,
                     students)

log = logging.getLogger(__name__)

V = TypeVar("V")


@dataclass(frozen=True)
class Versioned(Generic[V]):
    """A record's value as one event of a batch carries it: the school, the record's id,
    the value and the record's version."""
    school_id: str
    record_id: str
    value: V
    version: int


# The guardians' lists of children a batch applies, by guardian.
Applied = dict[str, Versioned[ev.GuardianStudentsRecorded]]


@dataclass
class Linking:
    outbox: Outbox
    participant: RightsParticipant
    clock: Callable[[], dt.datetime] = utcnow
    removals: Removals = field(default_factory=lambda: Removals(removed_records))

    # --- events about the link -----------------------------------------------------------
    def _publish(self, session: Session, link: Row[Any], event_type: str) -> None:
        """ParentVerified / LinkRevoked / LinkLocked, each with the link's next version
        (counted by the database, so two changes can never share one)."""
        version = session.execute(links.update().where(links.c.id == link.id)
                                  .values(version=links.c.version + 1)
                                  .returning(links.c.version)).scalar_one()
        data = {"link_id": link.id, "account_id": link.account_id,
                "guardian_id": link.guardian_id, "student_id": link.student_id,
                "record_version": version}
        if event_type == "LinkLocked":  # the admins' mail names the child
            data["student_name"] = session.execute(sa.select(students.c.name).where(
                students.c.student_id == link.student_id)).scalar()
        self.outbox.add(session, event_type, data, school_id=link.school_id)

    def _set(self, session: Session, link: Row[Any], **values: Any) -> None:
        session.execute(links.update().where(links.c.id == link.id)
                        .values(changed_at=self.clock(), **values))

    def _revoke(self, session: Session, link: Row[Any], by: RevokedBy) -> None:
        if link.status == REVOKED:
            return
        self._set(session, link, status=REVOKED, revoked_by=by)
        if link.account_id:  # nobody downstream knew of a link without a parent account
            self._publish(session, link, "LinkRevoked")
        log.info("link revoked link_id=%s", link.id)

    # --- the school's data ---------------------------------------------------------------
    # Each takes a batch's events of one type (school, data), in order, and leaves what
    # applying them one by one would leave, with a few statements for the whole batch.
    def record_students(self, session: Session,
                        items: Sequence[tuple[str, ev.StudentRecorded]]) -> None:
        """StudentRecorded: the students' names."""
        self._upsert_students(session, "name", "name_version", [
            Versioned(school_id, data.student_id, f"{data.given_name} {data.family_name}",
                      data.record_version) for school_id, data in items])

    def record_birth_dates(self, session: Session,
                           items: Sequence[tuple[str, ev.StudentBirthDateRecorded]]) -> None:
        """StudentBirthDateRecorded: a changed date of birth applies to answers from now
        on; a link already verified stays verified (the parent proved the school's record
        as it then was)."""
        self._upsert_students(session, "date_of_birth", "birth_date_version", [
            Versioned(school_id, data.student_id, data.date_of_birth, data.record_version)
            for school_id, data in items])

    def _upsert_students(self, session: Session, column: str, version_column: str,
                         items: list[Versioned[Any]]) -> None:
        """One column of the students' rows, upserted by that column's version, except
        where the school removed the student and the event is not newer than the
        removal."""
        latest = latest_versions(items, lambda i: i.record_id, lambda i: i.version)
        stale = self.removals.stale_among(
            session, "student", {student_id: item.version for student_id, item in latest.items()})
        upsert_versioned_many(session, students, "student_id", [
            {"student_id": student_id, "school_id": item.school_id, column: item.value,
             version_column: item.version}
            for student_id, item in sorted(latest.items())
            if student_id not in stale], version_column)

    def record_guardian_students(self, session: Session,
                                 items: Sequence[tuple[str, ev.GuardianStudentsRecorded]],
                                 ) -> None:
        """GuardianStudentsRecorded: the school's list of a contact's children: a link for
        each child with receives_reports, none for the others (an existing one is
        revoked). An older list arriving late changes nothing."""
        listed = [Versioned(school_id, data.guardian_id, data, data.record_version)
                  for school_id, data in items]
        latest = latest_versions(listed, lambda i: i.record_id, lambda i: i.version)
        ids = sorted(latest)
        advisory_locks(session, [f"guardian:{g}" for g in ids])  # against attach_account
        stale = self.removals.stale_among(
            session, "guardian", {g: latest[g].version for g in ids})
        stored = dict(session.execute(sa.select(guardians.c.guardian_id,
                                                guardians.c.record_version).where(
            among(guardians.c.guardian_id, ids)).with_for_update()).all())
        applied = {g: latest[g] for g in ids if g not in stale
                   and stored.get(g, -1) <= latest[g].version}
        if not applied:
            return
        upsert_versioned_many(session, guardians, "guardian_id", [
            {"guardian_id": g, "school_id": item.school_id, "record_version": item.version}
            for g, item in applied.items()])
        wanted = self._children(session, applied)
        self._links_wanted(session, applied, wanted)

    def _children(self, session: Session,
                  applied: Applied) -> dict[str, set[str]]:
        """The guardians' lists of children written over, without children erased or
        removed by the school; the children who receive reports, by guardian."""
        session.execute(guardian_students.delete().where(
            among(guardian_students.c.guardian_id, sorted(applied))))
        gone = self._gone_children(session, applied)
        rows: list[dict[str, Any]] = []
        wanted: dict[str, set[str]] = {}
        for guardian_id, listed in applied.items():
            school_id = listed.school_id
            wanted[guardian_id] = set()
            for child in listed.value.students:
                if (school_id, child.student_id) in gone:
                    continue
                rows.append({"school_id": school_id, "guardian_id": guardian_id,
                             "student_id": child.student_id,
                             "relationship": child.relationship,
                             "receives_reports": child.receives_reports})
                if child.receives_reports:
                    wanted[guardian_id].add(child.student_id)
        insert_many(session, guardian_students, rows)
        return wanted

    def _gone_children(self, session: Session,
                       applied: Applied) -> set[tuple[str, str]]:
        """(school, student) of the listed children erased at the school, or removed by
        it: never listed again."""
        by_school: dict[str, set[str]] = {}
        for listed in applied.values():
            by_school.setdefault(listed.school_id, set()).update(
                child.student_id for child in listed.value.students)
        removed = self.removals.removed_among(
            session, "student", {s for ids in by_school.values() for s in ids})
        return {(school_id, s) for school_id, ids in by_school.items() for s in ids
                if s in removed} | {
            (school_id, s) for school_id, ids in by_school.items()
            for s in self.participant.erased_among(session, "student", ids, school_id)}

    def _links_wanted(self, session: Session,
                      applied: Applied,
                      wanted: dict[str, set[str]]) -> None:
        """A pending link for each child wanted (with the contact's login, if it came
        first); a link revoked by the school's data asked for again; the links no longer
        wanted revoked."""
        ids = sorted(applied)
        logins = dict(session.execute(sa.select(guardian_accounts.c.guardian_id,
                                                guardian_accounts.c.account_id).where(
            among(guardian_accounts.c.guardian_id, ids))).all())
        existing = {(r.guardian_id, r.student_id): r for r in session.execute(
            sa.select(links).where(among(links.c.guardian_id, ids))
            .order_by(links.c.id).with_for_update()).all()}
        now, new = self.clock(), []
        for guardian_id in ids:
            account_id = logins.get(guardian_id)
            for student_id in sorted(wanted[guardian_id]):
                link = existing.get((guardian_id, student_id))
                if link is None:
                    new.append(dict(
                        id=str(uuid.uuid4()), school_id=applied[guardian_id].school_id,
                        guardian_id=guardian_id, student_id=student_id,
                        account_id=account_id, status=PENDING, failed_attempts=0,
                        version=0, created_at=now, changed_at=now))
                elif link.status == REVOKED and link.revoked_by == RevokedBy.DATA:
                    # The school's records ask for it again; an admin's revocation stands.
                    self._set(session, link, status=PENDING, failed_attempts=0,
                              account_id=account_id, revoked_by=None)
        insert_many(session, links, new)
        for (guardian_id, student_id), link in existing.items():
            if student_id not in wanted[guardian_id]:
                self._revoke(session, link, RevokedBy.DATA)

    def attach_account(self, session: Session, data: ev.AccountActivated,
                       school_id: str | None) -> None:
        """AccountActivated: `guardian_ids` is the full set this login holds now. Their
        links go to it; a guardian record it no longer holds (the school moved it to
        another email) is detached: its links are revoked for this login and wait, pending,
        for the login that holds the record now."""
        account_id = data.account_id
        held = set(data.guardian_ids)
        previously = set(session.execute(sa.select(guardian_accounts.c.guardian_id).where(
            guardian_accounts.c.account_id == account_id)).scalars())
        for guardian_id in sorted(previously - held):
            advisory_lock(session, f"guardian:{guardian_id}")
            self._detach(session, guardian_id, account_id)
            session.execute(guardian_accounts.delete().where(
                guardian_accounts.c.guardian_id == guardian_id,
                guardian_accounts.c.account_id == account_id))
        known = dict(session.execute(sa.select(guardians.c.guardian_id, guardians.c.school_id)
                                     .where(among(guardians.c.guardian_id, sorted(held)))).all())
        erased = self.participant.erased_at_their_schools(
            session, "guardian", {g: known.get(g, school_id) for g in held})
        for guardian_id in sorted(held - erased):
            advisory_lock(session, f"guardian:{guardian_id}")
            current = session.execute(sa.select(guardian_accounts.c.account_id).where(
                guardian_accounts.c.guardian_id == guardian_id)).scalar()
            if current == account_id:
                pass
            elif current is None:
                session.execute(guardian_accounts.insert().values(
                    guardian_id=guardian_id, account_id=account_id))
            else:
                session.execute(guardian_accounts.update().where(
                    guardian_accounts.c.guardian_id == guardian_id).values(
                    account_id=account_id))
            for link in session.execute(sa.select(links).where(
                    links.c.guardian_id == guardian_id).with_for_update()).all():
                if link.account_id == account_id:
                    continue
                if link.account_id is not None:
                    self._detach(session, guardian_id, link.account_id)
                self._set(session, link, account_id=account_id)

    def _detach(self, session: Session, guardian_id: str, account_id: str) -> None:
        """The login loses this guardian record's links: revoked for it, pending again
        (with fresh answers) for whoever holds the record next."""
        for link in session.execute(sa.select(links).where(
                links.c.guardian_id == guardian_id, links.c.account_id == account_id)
                .with_for_update()).all():
            reopen = link.status != REVOKED or link.revoked_by == RevokedBy.DATA
            self._revoke(session, link, RevokedBy.DATA)
            values: dict[str, Any] = {"account_id": None}
            if reopen:
                values.update(status=PENDING, failed_attempts=0, revoked_by=None)
            self._set(session, link, **values)

    def remove_student(self, session: Session, school_id: str,
                       data: ev.StudentRemoved) -> None:
        student_id = data.student_id
        current = session.execute(sa.select(students.c.name_version,
                                            students.c.birth_date_version).where(
            students.c.student_id == student_id)).first()
        if current is not None and max(current) > data.record_version:
            return  # a late removal: the school has added the student back since
        self.removals.remember(session, school_id, "student", student_id,
                               data.record_version)
        for link in session.execute(sa.select(links).where(
                links.c.student_id == student_id, links.c.school_id == school_id)
                .with_for_update()).all():
            self._revoke(session, link, RevokedBy.DATA)
        session.execute(guardian_students.delete().where(
            guardian_students.c.student_id == student_id))
        session.execute(students.delete().where(students.c.student_id == student_id))

    def remove_guardian(self, session: Session, school_id: str,
                        data: ev.GuardianRemoved) -> None:
        guardian_id = data.guardian_id
        advisory_lock(session, f"guardian:{guardian_id}")
        held = session.execute(sa.select(guardians.c.record_version).where(
            guardians.c.guardian_id == guardian_id)).scalar()
        if held is not None and held > data.record_version:
            return  # a late removal: the school has added the guardian back since
        self.removals.remember(session, school_id, "guardian", guardian_id,
                               data.record_version)
        for link in session.execute(sa.select(links).where(
                links.c.guardian_id == guardian_id).with_for_update()).all():
            self._revoke(session, link, RevokedBy.DATA)
        session.execute(guardian_students.delete().where(
            guardian_students.c.guardian_id == guardian_id))
        session.execute(guardian_accounts.delete().where(
            guardian_accounts.c.guardian_id == guardian_id))

    # --- parents ---------------------------------------------------------------------------
    def own_links(self, session: Session, account_id: str, after: str | None = None,
                  limit: int = 50) -> Page:
        query = (sa.select(links.c.id, links.c.student_id, links.c.status, students.c.name,
                           links.c.school_id,
                           students.c.date_of_birth.is_(None).label("no_birth_date"))
                 .select_from(links.outerjoin(students,
                                              students.c.student_id == links.c.student_id))
                 .where(links.c.account_id == account_id, links.c.status != REVOKED))
        return keyset_page(session, query, [Key(links.c.id)], after, limit).map(
            lambda r: {"id": r.id, "student": {"id": r.student_id, "name": r.name},
                       "status": r.status, "school_id": r.school_id,
                       "waiting_for_date_of_birth": _waiting(r)})

    def verify(self, session: Session, account_id: str, link_id: str,
               date_of_birth: dt.date) -> domain.Answer:
        link = session.execute(sa.select(links).where(
            links.c.id == link_id).with_for_update()).first()
        if link is None or link.account_id != account_id or link.status == REVOKED:
            raise NotFound()
        if (self.participant.is_restricted(session, "student", link.student_id,
                                           link.school_id)
                or self.participant.is_restricted(session, "guardian", link.guardian_id,
                                                  link.school_id)):
            raise domain.Restricted()
        expected = session.execute(sa.select(students.c.date_of_birth).where(
            students.c.student_id == link.student_id)).scalar()
        result = domain.answer(link.status, link.failed_attempts, expected, date_of_birth)
        if result.status != link.status or result.failed_attempts != link.failed_attempts:
            self._set(session, link, status=result.status,
                      failed_attempts=result.failed_attempts)
        if result.event:
            self._publish(session, link, result.event)
        log.info("link answer link_id=%s correct=%s status=%s", link.id, result.correct,
                 result.status)
        return result

    # --- school admins -----------------------------------------------------------------------
    def _admin_link(self, session: Session, school_ids: Collection[str],
                    link_id: str) -> Row[Any]:
        link = session.execute(sa.select(links).where(links.c.id == link_id)
                               .with_for_update()).first()
        if link is None or link.school_id not in school_ids:
            raise NotFound()
        return link

    def links_for_student(self, session: Session, school_ids: Collection[str], student_id: str,
                          after: str | None = None, limit: int = 50) -> Page:
        # The school's recorded relationship (free text, "mother") tells the admin which
        # contact a link is; linking holds no guardian names.
        query = (sa.select(links, guardian_students.c.relationship, students.c.name,
                           students.c.date_of_birth.is_(None).label("no_birth_date"))
                 .select_from(links.outerjoin(guardian_students, sa.and_(
                     guardian_students.c.guardian_id == links.c.guardian_id,
                     guardian_students.c.student_id == links.c.student_id))
                     .outerjoin(students, students.c.student_id == links.c.student_id))
                 .where(links.c.student_id == student_id,
                        among(links.c.school_id, school_ids)))
        return keyset_page(session, query, [Key(links.c.id)], after, limit).map(
            lambda r: {"id": r.id, "student": {"id": r.student_id, "name": r.name},
                       "guardian_id": r.guardian_id, "relationship": r.relationship,
                       "status": r.status, "failed_attempts": r.failed_attempts,
                       "has_account": r.account_id is not None,
                       "account_id": r.account_id, "school_id": r.school_id,
                       "waiting_for_date_of_birth": _waiting(r),
                       "changed_at": r.changed_at})

    def unlock(self, session: Session, school_ids: Collection[str], link_id: str) -> str:
        link = self._admin_link(session, school_ids, link_id)
        if link.status == LOCKED:
            self._set(session, link, status=PENDING, failed_attempts=0)
            log.info("link unlocked link_id=%s", link.id)
            return PENDING
        return str(link.status)

    def revoke(self, session: Session, school_ids: Collection[str], link_id: str) -> str:
        link = self._admin_link(session, school_ids, link_id)
        self._revoke(session, link, RevokedBy.SCHOOL)
        return REVOKED


def _waiting(row: Row[Any]) -> bool:
    """A pending link whose student has no date of birth yet (or no record at all yet):
    it cannot be confirmed until the school sends one."""
    return row.status == PENDING and bool(row.no_birth_date)
