"""Identity's schools and their school-system clients, and the operator's view of them
(a part of Identity, service.py)."""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.db import among
from shared.erasure_ledger import SCHOOL, SENT, ErasureLedger, offboarding_request_id
from shared.messaging.outbox import Outbox
from shared.pages import Key, Page, keyset_page
from shared.rights.participant import lock_school_data

from . import domain
from .domain import AccountStatus, MembershipStatus, SchoolStatus, Unknown
from .models import accounts, client_schools, clients, memberships, schools

log = logging.getLogger(__name__)
ACCEPTED = MembershipStatus.ACCEPTED
OFFICE = ("office_email", "office_phone")  # the school office, shown to its parents
# The school's settings besides its name: who may have accounts, its office, and the language
# it writes to families in first (issue 29).
SETTINGS = ("student_accounts", "default_language") + OFFICE


class SchoolsAndClients:
    """Creating, changing and offboarding schools; issuing and revoking clients."""
    outbox: Outbox
    clock: Callable[[], dt.datetime]
    ledger: ErasureLedger | None

    # --- schools ----------------------------------------------------------------------
    def create_school(self, session: Session, name: str, authorisation: dict | None,
                      student_accounts: bool = False, contact: dict | None = None) -> str:
        school_id = str(uuid.uuid4())
        authorisation = authorisation or {}
        contact = {k: v for k, v in (contact or {}).items()
                   if k in OFFICE or k == "default_language"}
        session.execute(schools.insert().values(
            id=school_id, name=name, status=SchoolStatus.ACTIVE, student_accounts=student_accounts,
            authorisation_reference=authorisation.get("reference"),
            authorised_by=authorisation.get("authorised_by"),
            authorised_on=authorisation.get("date"), created_at=self.clock(), **contact))
        self._announce_school(session, school_id)
        log.info("school created school_id=%s", school_id)
        return school_id

    def _announce_school(self, session: Session, school_id: str) -> None:
        """SchoolActivated carries the school's name, office contact and default language:
        sent when it is created and again when they change (notifications names the school
        in its mail, and writes first in its language where a person's is not known)."""
        row = session.execute(sa.select(schools).where(schools.c.id == school_id)).one()
        self.outbox.add(session, "SchoolActivated", {
            "school_id": school_id, "name": row.name, "student_accounts": row.student_accounts,
            "office_email": row.office_email, "office_phone": row.office_phone,
            "default_language": row.default_language}, school_id=school_id)

    def school_contacts(self, session: Session, school_ids: list[str]) -> list[dict]:
        """The schools a person belongs to, by name, with their office's contact."""
        rows = session.execute(sa.select(schools).where(
            among(schools.c.id, school_ids)).order_by(schools.c.name, schools.c.id)).all()
        return [{"id": r.id, "name": r.name, "office_email": r.office_email,
                 "office_phone": r.office_phone} for r in rows]

    def school_offboarded(self, session: Session, school_id: str | None) -> bool:
        status = session.execute(sa.select(schools.c.status).where(
            schools.c.id == school_id)).scalar()
        return status in (SchoolStatus.OFFBOARDING, SchoolStatus.OFFBOARDED)

    def active_school(self, session: Session, school_id: str):
        row = session.execute(sa.select(schools).where(schools.c.id == school_id)).first()
        if row is None or row.status != SchoolStatus.ACTIVE:
            raise Unknown("no such school")
        return row

    def staff_member(self, session: Session, school_id: str | None,
                     account_id: str) -> str | None:
        """The account id when it is a member of staff of this school, else None (a
        subject request names only its own school's people)."""
        m = memberships
        return session.execute(sa.select(m.c.account_id).where(
            m.c.school_id == school_id, m.c.account_id == account_id,
            m.c.role.in_(domain.STAFF_ROLES)).limit(1)).scalar()

    def update_school(self, session: Session, school_id: str, changes: dict) -> dict:
        # As a data event: an offboarding erases the office contact after this, not before.
        lock_school_data(session, [school_id], shared=True)
        self.active_school(session, school_id)
        allowed = {k: v or None if k in OFFICE else v for k, v in changes.items()
                   if k in ("name",) + SETTINGS}
        if allowed:
            session.execute(schools.update().where(schools.c.id == school_id).values(**allowed))
            self._announce_school(session, school_id)
        row = self.active_school(session, school_id)
        return {"id": row.id, "name": row.name, "student_accounts": row.student_accounts,
                "status": row.status, "office_email": row.office_email,
                "office_phone": row.office_phone, "default_language": row.default_language}

    def offboard_school(self, session: Session, school_id: str) -> None:
        """Stops the school at once; every service, identity included, erases its data on
        SchoolOffboarded (dsar tracks the answers). The ledger has it before this commits:
        a restore of an older backup offboards the school again (shared/restore.py)."""
        self.active_school(session, school_id)
        event_id = self._offboard(session, school_id)
        if self.ledger is not None:
            self.ledger.record(SENT, offboarding_request_id(event_id), school_id, SCHOOL,
                               school_id)
        log.info("school offboarding school_id=%s", school_id)

    def offboard_again(self, session: Session, school_id: str) -> str:
        """A restore's replay of an offboarding the restored databases do not hold
        (finished): the school stopped again, whatever state the backup left it in (or
        none: it may have been made after the backup), and SchoolOffboarded sent again,
        which every service carries out as the first time. Its SchoolOffboarded event's
        id."""
        event_id = self._offboard(session, school_id)
        log.info("school offboarding replayed school_id=%s", school_id)
        return event_id

    def _offboard(self, session: Session, school_id: str) -> str:
        session.execute(schools.update().where(
            schools.c.id == school_id, schools.c.status == SchoolStatus.ACTIVE).values(
            status=SchoolStatus.OFFBOARDING, offboarded_at=self.clock()))
        revoked = session.execute(clients.update().where(
            clients.c.school_id == school_id, clients.c.revoked_at.is_(None))
            .values(revoked_at=self.clock()).returning(clients.c.id)).scalars().all()
        for client_id in revoked:  # the school's people follow as identity erases them
            self._revoke(session, client_id, "client_revoked")
        return self.outbox.add(session, "SchoolOffboarded", {"school_id": school_id},
                               school_id=school_id).id

    # --- school-system clients ---------------------------------------------------------
    def create_client(self, session: Session, school_id: str) -> tuple[str, str]:
        self.active_school(session, school_id)
        client_id, secret = str(uuid.uuid4()), domain.new_secret()
        session.execute(clients.insert().values(
            id=client_id, school_id=school_id, secret_hash=domain.hash_secret(secret),
            created_at=self.clock()))
        log.info("client issued client_id=%s school_id=%s", client_id, school_id)
        return client_id, secret

    def grant_client(self, session: Session, school_id: str, client_id: str,
                     other_school_id: str) -> None:
        """Let the school's client act for another school too (one trust's system)."""
        self.active_school(session, other_school_id)
        if not session.execute(sa.select(clients.c.id).where(
                clients.c.id == client_id, clients.c.school_id == school_id,
                clients.c.revoked_at.is_(None))).first():
            raise Unknown("no such client")
        if other_school_id == school_id or session.execute(sa.select(
                client_schools.c.client_id).where(client_schools.c.client_id == client_id,
                client_schools.c.school_id == other_school_id)).first():
            return
        session.execute(client_schools.insert().values(
            client_id=client_id, school_id=other_school_id, granted_at=self.clock()))
        log.info("client granted client_id=%s school_id=%s", client_id, other_school_id)

    def revoke_client(self, session: Session, school_id: str, client_id: str) -> None:
        done = session.execute(clients.update().where(
            clients.c.id == client_id, clients.c.school_id == school_id,
            clients.c.revoked_at.is_(None)).values(revoked_at=self.clock())).rowcount
        if not done:
            raise Unknown("no such client")
        self._revoke(session, client_id, "client_revoked")

    # --- the operator's view of schools -----------------------------------------------------
    def list_schools(self, session: Session, after: str | None = None,
                     limit: int = 50) -> Page:
        """Every school, offboarded ones too, by id (`after` is the last id of a page)."""
        return keyset_page(session, sa.select(schools), [Key(schools.c.id)], after,
                           limit).map(_school_view)

    def school_detail(self, session: Session, school_id: str) -> dict:
        """One school with its admins (name and email: the operator runs the onboarding)
        and its school-system clients (ids and dates, never a secret)."""
        row = session.execute(sa.select(schools).where(schools.c.id == school_id)).first()
        if row is None:
            raise Unknown("no such school")
        m, a = memberships, accounts
        # An admin is "active" here once they accepted this school's invitation.
        admins = session.execute(
            sa.select(a.c.id, m.c.name, a.c.email, m.c.status, m.c.created_at,
                      m.c.accepted_at)
            .select_from(m.join(a, a.c.id == m.c.account_id))
            .where(m.c.school_id == school_id, m.c.role == "school_admin")
            .order_by(m.c.created_at, a.c.id)).all()
        issued = session.execute(
            sa.select(clients.c.id, clients.c.created_at, clients.c.revoked_at)
            .where(clients.c.school_id == school_id)
            .order_by(clients.c.created_at, clients.c.id)).all()
        return {**_school_view(row),
                "admins": [{"id": r.id, "name": r.name, "email": r.email,
                            "status": AccountStatus.ACTIVE if r.status == ACCEPTED
                            else AccountStatus.INVITED,
                            "invited_at": r.created_at, "activated_at": r.accepted_at}
                           for r in admins],
                "clients": [{"client_id": r.id, "created_at": r.created_at,
                             "revoked_at": r.revoked_at} for r in issued]}


def _school_view(row) -> dict:
    authorisation = None
    if row.authorisation_reference or row.authorised_by or row.authorised_on:
        authorisation = {"reference": row.authorisation_reference,
                         "authorised_by": row.authorised_by, "date": row.authorised_on}
    return {"id": row.id, "name": row.name, "status": row.status,
            "student_accounts": row.student_accounts, "authorisation": authorisation,
            "office_email": row.office_email, "office_phone": row.office_phone,
            "default_language": row.default_language, "created_at": row.created_at,
            "offboarded_at": row.offboarded_at}
