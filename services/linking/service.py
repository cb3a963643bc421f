"""Linking use cases: the school's records become pending links; parents verify them; the
school unlocks and revokes. Events go to the outbox in the same transaction."""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.db import utcnow
from shared.messaging.outbox import Outbox
from shared.rights import RightsParticipant

from . import domain
from .domain import LOCKED, PENDING, REVOKED, VERIFIED
from .models import guardian_accounts, guardian_students, guardians, links, students

log = logging.getLogger(__name__)


class NotFound(Exception):
    """No such link for this caller (another parent's link answers the same)."""


@dataclass
class Linking:
    outbox: Outbox
    participant: RightsParticipant
    clock: Callable[[], dt.datetime] = utcnow

    # --- events about the link -----------------------------------------------------------
    def _publish(self, session: Session, link, event_type: str) -> None:
        """ParentVerified / LinkRevoked / LinkLocked, each with the link's next version."""
        version = link.version + 1
        session.execute(links.update().where(links.c.id == link.id).values(version=version))
        self.outbox.add(session, event_type, {
            "link_id": link.id, "account_id": link.account_id, "guardian_id": link.guardian_id,
            "student_id": link.student_id, "record_version": version},
            school_id=link.school_id)

    def _set(self, session: Session, link, **values) -> None:
        session.execute(links.update().where(links.c.id == link.id)
                        .values(changed_at=self.clock(), **values))

    def _revoke(self, session: Session, link) -> None:
        if link.status == REVOKED:
            return
        self._set(session, link, status=REVOKED)
        if link.account_id:  # nobody downstream knew of a link without a parent account
            self._publish(session, link, "LinkRevoked")
        log.info("link revoked link_id=%s", link.id)

    # --- the school's data ---------------------------------------------------------------
    def record_student(self, session: Session, school_id: str, data: dict) -> None:
        self._upsert_student(session, school_id, data["student_id"], "name", "name_version",
                             f"{data['given_name']} {data['family_name']}",
                             data["record_version"])

    def record_birth_date(self, session: Session, school_id: str, data: dict) -> None:
        """A changed date of birth applies to answers from now on; a link already verified
        stays verified (the parent proved the school's record as it then was)."""
        self._upsert_student(session, school_id, data["student_id"], "date_of_birth",
                             "birth_date_version", data["date_of_birth"],
                             data["record_version"])

    def _upsert_student(self, session, school_id, student_id, column, version_column, value,
                        version) -> None:
        row = session.execute(sa.select(students).where(
            students.c.student_id == student_id).with_for_update()).first()
        if row is None:
            values = {"name_version": 0, "birth_date_version": 0,
                      column: value, version_column: version}
            session.execute(students.insert().values(school_id=school_id,
                                                     student_id=student_id, **values))
        elif getattr(row, version_column) <= version:
            session.execute(students.update().where(students.c.student_id == student_id)
                            .values(**{column: value, version_column: version}))

    def record_guardian_students(self, session: Session, school_id: str, data: dict) -> None:
        """The school's list of a contact's children: a link for each child with
        receives_reports, none for the others (an existing one is revoked)."""
        guardian_id, version = data["guardian_id"], data["record_version"]
        row = session.execute(sa.select(guardians).where(
            guardians.c.guardian_id == guardian_id).with_for_update()).first()
        if row is not None and row.record_version > version:
            return  # an older list arriving late changes nothing
        if row is None:
            session.execute(guardians.insert().values(school_id=school_id,
                                                      guardian_id=guardian_id,
                                                      record_version=version))
        else:
            session.execute(guardians.update().where(guardians.c.guardian_id == guardian_id)
                            .values(record_version=version))
        session.execute(guardian_students.delete().where(
            guardian_students.c.guardian_id == guardian_id))
        wanted = set()
        for child in data["students"]:
            if self.participant.is_erased(session, "student", child["student_id"]):
                continue
            session.execute(guardian_students.insert().values(
                school_id=school_id, guardian_id=guardian_id, student_id=child["student_id"],
                relationship=child["relationship"],
                receives_reports=child["receives_reports"]))
            if child["receives_reports"]:
                wanted.add(child["student_id"])
        account_id = session.execute(sa.select(guardian_accounts.c.account_id).where(
            guardian_accounts.c.guardian_id == guardian_id)).scalar()
        existing = {r.student_id: r for r in session.execute(sa.select(links).where(
            links.c.guardian_id == guardian_id)).all()}
        now = self.clock()
        for student_id in wanted:
            link = existing.get(student_id)
            if link is None:
                session.execute(links.insert().values(
                    id=str(uuid.uuid4()), school_id=school_id, guardian_id=guardian_id,
                    student_id=student_id, account_id=account_id, status=PENDING,
                    failed_attempts=0, version=0, created_at=now, changed_at=now))
            elif link.status == REVOKED:  # the school switched reports on again
                self._set(session, link, status=PENDING, failed_attempts=0,
                          account_id=account_id)
        for student_id, link in existing.items():
            if student_id not in wanted:
                self._revoke(session, link)

    def attach_account(self, session: Session, data: dict) -> None:
        """AccountActivated: the login holding these guardian records gets their links."""
        for guardian_id in data["guardian_ids"]:
            if self.participant.is_erased(session, "guardian", guardian_id):
                continue
            current = session.execute(sa.select(guardian_accounts.c.account_id).where(
                guardian_accounts.c.guardian_id == guardian_id)).scalar()
            if current is None:
                session.execute(guardian_accounts.insert().values(
                    guardian_id=guardian_id, account_id=data["account_id"]))
            elif current != data["account_id"]:
                session.execute(guardian_accounts.update().where(
                    guardian_accounts.c.guardian_id == guardian_id).values(
                    account_id=data["account_id"]))
            # A guardian's record moving to another login (the school changed its email)
            # takes its links with it, back to pending: the new login proves them again.
            for link in session.execute(sa.select(links).where(
                    links.c.guardian_id == guardian_id)).all():
                if link.account_id == data["account_id"]:
                    continue
                if link.account_id is not None and link.status != REVOKED:
                    self._revoke(session, link)
                    self._set(session, link, status=PENDING, failed_attempts=0)
                self._set(session, link, account_id=data["account_id"])

    def remove_student(self, session: Session, school_id: str, data: dict) -> None:
        student_id = data["student_id"]
        for link in session.execute(sa.select(links).where(
                links.c.student_id == student_id, links.c.school_id == school_id)).all():
            self._revoke(session, link)
        session.execute(guardian_students.delete().where(
            guardian_students.c.student_id == student_id))
        session.execute(students.delete().where(students.c.student_id == student_id))

    def remove_guardian(self, session: Session, school_id: str, data: dict) -> None:
        guardian_id = data["guardian_id"]
        for link in session.execute(sa.select(links).where(
                links.c.guardian_id == guardian_id)).all():
            self._revoke(session, link)
        session.execute(guardian_students.delete().where(
            guardian_students.c.guardian_id == guardian_id))

    # --- parents ---------------------------------------------------------------------------
    def own_links(self, session: Session, account_id: str) -> list[dict]:
        rows = session.execute(
            sa.select(links.c.id, links.c.student_id, links.c.status, students.c.name)
            .select_from(links.outerjoin(students, students.c.student_id == links.c.student_id))
            .where(links.c.account_id == account_id, links.c.status != REVOKED)
            .order_by(links.c.created_at, links.c.id)).all()
        return [{"id": r.id, "student": {"id": r.student_id, "name": r.name},
                 "status": r.status} for r in rows]

    def verify(self, session: Session, account_id: str, link_id: str,
               date_of_birth: dt.date) -> domain.Answer:
        link = session.execute(sa.select(links).where(
            links.c.id == link_id).with_for_update()).first()
        if link is None or link.account_id != account_id or link.status == REVOKED:
            raise NotFound()
        if (self.participant.is_restricted(session, "student", link.student_id)
                or self.participant.is_restricted(session, "guardian", link.guardian_id)):
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
    def _admin_link(self, session: Session, school_ids, link_id: str):
        link = session.execute(sa.select(links).where(links.c.id == link_id)
                               .with_for_update()).first()
        if link is None or link.school_id not in school_ids:
            raise NotFound()
        return link

    def links_for_student(self, session: Session, school_ids, student_id: str) -> list[dict]:
        rows = session.execute(sa.select(links).where(
            links.c.student_id == student_id, links.c.school_id.in_(school_ids))
            .order_by(links.c.created_at, links.c.id)).all()
        return [{"id": r.id, "student": {"id": r.student_id}, "guardian_id": r.guardian_id,
                 "status": r.status, "failed_attempts": r.failed_attempts,
                 "has_account": r.account_id is not None} for r in rows]

    def unlock(self, session: Session, school_ids, link_id: str) -> str:
        link = self._admin_link(session, school_ids, link_id)
        if link.status == LOCKED:
            self._set(session, link, status=PENDING, failed_attempts=0)
            log.info("link unlocked link_id=%s", link.id)
            return PENDING
        return link.status

    def revoke(self, session: Session, school_ids, link_id: str) -> str:
        link = self._admin_link(session, school_ids, link_id)
        self._revoke(session, link)
        return REVOKED


__all__ = ["Linking", "NotFound", "VERIFIED"]
