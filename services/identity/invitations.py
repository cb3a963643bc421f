"""Identity's logins, their memberships of schools and the invitations that make them
count, as schools invite staff and push guardian and student records (a part of
Identity, service.py)."""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from typing import Any, Callable

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from shared.db import advisory_lock, insert_unless_present
from shared.messaging.outbox import Outbox
from shared.removals import Removals

from . import domain
from .domain import (AccountKind, AccountStatus, Conflict, InvalidCredentials,
                     MembershipStatus, Throttled, TokenUnusable, Unknown)
from .models import accounts, invitations, mail_sends, memberships, removed_records, students
from .personal_data import accepted_logins, delete_orphan_accounts
from .revocation import lock_accounts, sign_out_accounts

log = logging.getLogger(__name__)
PENDING, ACCEPTED = MembershipStatus


class AccountsAndInvitations:
    """One login per person; a school's relation to it counts once accepted."""
    outbox: Outbox
    hasher: PasswordHasher
    invitation_lifetime: dt.timedelta
    address_key: bytes
    clock: Callable[[], dt.datetime]

    # --- accounts, memberships and invitations -------------------------------------------
    def account_by_email(self, session: Session, email: str):
        return session.execute(sa.select(accounts).where(
            accounts.c.email == domain.normalise_email(email))).first()

    def login_for(self, session: Session, email: str):
        """One login per person: the account for this email, created (invited, nothing of
        any school's on it) if new. The same statements run whether or not it existed, so
        neither the answer nor the work tells a school that it did."""
        insert_unless_present(session, accounts, {
            "id": str(uuid.uuid4()), "email": domain.normalise_email(email), "name": None,
            "kind": AccountKind.PERSON, "status": AccountStatus.INVITED,
            "created_at": self.clock()}, ("email",))
        return self.account_by_email(session, email)

    def add_membership(self, session: Session, account_id: str, school_id: str, role: str,
                       name: str, *, guardian_id: str | None = None,
                       student_id: str | None = None, record_version: int = 0) -> tuple[bool, str]:
        """This school's relation to the login: (new?, status). A new one is pending until
        the person accepts the school's invitation, unless they already accepted this
        school in this role (the school knows their login then)."""
        m = memberships
        existing = session.execute(sa.select(m.c.id, m.c.status).where(
            m.c.account_id == account_id, m.c.school_id == school_id,
            m.c.guardian_id.is_(None) if guardian_id is None else m.c.guardian_id == guardian_id,
            m.c.student_id.is_(None) if student_id is None else m.c.student_id == student_id,
            m.c.role == role)).first()
        if existing:
            session.execute(m.update().where(m.c.id == existing.id).values(
                name=name, record_version=record_version))
            return False, existing.status
        accepted = session.execute(sa.select(m.c.id).where(
            m.c.account_id == account_id, m.c.school_id == school_id, m.c.role == role,
            m.c.status == ACCEPTED).limit(1)).first() is not None
        now = self.clock()
        session.execute(m.insert().values(
            id=str(uuid.uuid4()), account_id=account_id, school_id=school_id, role=role,
            guardian_id=guardian_id, student_id=student_id, name=name,
            record_version=record_version, created_at=now,
            status=ACCEPTED if accepted else PENDING, accepted_at=now if accepted else None))
        return True, ACCEPTED if accepted else PENDING

    def invite_staff(self, session: Session, school_id: str, name: str, email: str,
                     role: str) -> str:
        """The staff login's id, with a pending membership and an invitation: the same
        answer, id and work whether or not the email has a login anywhere (one login may
        be staff here and a parent or staff elsewhere; it joins this school's staff only
        when the person accepts)."""
        self.active_school(session, school_id)
        account = self.login_for(session, email)
        _, status = self.add_membership(session, account.id, school_id, role, name)
        if status == PENDING:
            self.issue_invitation(session, account.id, school_id)
        return account.id

    def issue_invitation(self, session: Session, account_id: str,
                         school_id: str) -> dt.datetime | None:
        """A new single-use token for this school's pending memberships of the login
        (earlier unused ones of the school stop working); its hash is kept, the token
        itself travels once, in InvitationIssued. None when the hourly cap is hit."""
        account = session.execute(sa.select(accounts).where(accounts.c.id == account_id)
                                  .with_for_update()).one()
        m = memberships
        pending = session.execute(sa.select(m.c.role, m.c.name).where(
            m.c.account_id == account_id, m.c.school_id == school_id, m.c.status == PENDING)
            .order_by(m.c.created_at.desc(), m.c.id).limit(1)).first()
        if pending is None:
            raise Conflict("This person has accepted the school's invitation already.")
        if not self._may_mail(session, account_id, "invitation", school_id):
            log.warning("invitation mail capped account_id=%s school_id=%s", account_id,
                        school_id)
            return None
        session.execute(invitations.delete().where(invitations.c.account_id == account_id,
                                                   invitations.c.school_id == school_id,
                                                   invitations.c.used_at.is_(None)))
        token, now = domain.new_secret(), self.clock()
        invitation_id = str(uuid.uuid4())
        expires_at = now + self.invitation_lifetime
        session.execute(invitations.insert().values(
            id=invitation_id, account_id=account_id, school_id=school_id,
            token_hash=domain.hash_secret(token), created_at=now, expires_at=expires_at))
        records = session.execute(sa.select(memberships.c.guardian_id,
                                            memberships.c.student_id).where(
            memberships.c.account_id == account_id,
            memberships.c.school_id == school_id)).all()
        # The mail tells an existing login to accept with its own password; only the
        # person reads it, never the school.
        self.outbox.add(session, "InvitationIssued", {
            "invitation_id": invitation_id, "account_id": account_id, "role": pending.role,
            "guardian_ids": sorted({r.guardian_id for r in records if r.guardian_id}),
            "student_ids": sorted({r.student_id for r in records if r.student_id}),
            "name": pending.name, "email": account.email, "token": token,
            "expires_at": expires_at, "existing_login": account.status == AccountStatus.ACTIVE},
            school_id=school_id)
        log.info("invitation issued account_id=%s invitation_id=%s", account_id,
                 invitation_id)
        return expires_at

    def resend_invitation(self, session: Session, account_id: str,
                          school_ids: tuple[str, ...] | None,
                          school_id: str | None = None) -> dt.datetime:
        """By an operator (school_ids None: any school, or the one named) or an admin of
        one of the login's schools, for that school's pending memberships."""
        m = memberships
        query = sa.select(m.c.school_id).where(m.c.account_id == account_id)
        if school_ids is not None:
            query = query.where(m.c.school_id.in_(school_ids))
        if school_id is not None:
            query = query.where(m.c.school_id == school_id)
        school = session.execute(
            query.order_by((m.c.status == PENDING).desc(), m.c.created_at).limit(1)).first()
        if school is None:
            raise Unknown("no such account")
        expires_at = self.issue_invitation(session, account_id, school.school_id)
        if expires_at is None:
            raise Throttled(3600)
        return expires_at

    def _may_mail(self, session: Session, account_id: str, kind: str,
                  school_id: str | None = None) -> bool:
        now = self.clock()
        sent = session.execute(sa.select(sa.func.count()).select_from(mail_sends).where(
            mail_sends.c.account_id == account_id, mail_sends.c.kind == kind,
            _same_school(mail_sends.c.school_id, school_id),
            mail_sends.c.sent_at > now - dt.timedelta(hours=1))).scalar_one()
        if sent >= domain.MAILS_PER_ACCOUNT_PER_HOUR:
            return False
        session.execute(mail_sends.delete().where(
            mail_sends.c.account_id == account_id,
            mail_sends.c.sent_at <= now - dt.timedelta(hours=1)))
        session.execute(mail_sends.insert().values(account_id=account_id, kind=kind,
                                                   school_id=school_id, sent_at=now))
        return True

    def _invitation(self, session: Session, token: str):
        """The usable invitation of this token with its login, both locked; else
        TokenUnusable (one answer for unknown, used, expired or withdrawn)."""
        invitation = session.execute(sa.select(invitations).where(
            invitations.c.token_hash == domain.hash_secret(token)).with_for_update()).first()
        if (invitation is None or invitation.used_at is not None
                or invitation.expires_at <= self.clock()):
            raise TokenUnusable("This invitation link is not valid (used or expired).")
        account = session.execute(sa.select(accounts).where(
            accounts.c.id == invitation.account_id).with_for_update()).one()
        m = memberships
        if session.execute(sa.select(m.c.id).where(
                m.c.account_id == account.id, _invited_by(m.c.school_id, invitation),
                m.c.status == PENDING).limit(1)).first() is None:
            raise TokenUnusable("This invitation link is not valid (used or expired).")
        return invitation, account

    def invitation_status(self, session: Session, token: str) -> dict:
        """For the activation page: whether this invitation is accepted with a new
        password or with the login's existing one."""
        invitation, account = self._invitation(session, token)
        return {"existing_login": account.status == AccountStatus.ACTIVE,
                "expires_at": invitation.expires_at}

    def activate(self, session: Session, token: str, password: str,
                 address: str = "unknown") -> str:
        """Accepts the school's invitation: the login's pending memberships there count
        from now on. A new login sets its password; an existing one proves it with its
        own (an invitation never overwrites an active password), limited like a sign-in
        from `address`."""
        invitation, account = self._invitation(session, token)
        now = self.clock()
        if account.status == AccountStatus.ACTIVE:
            address_hash = domain.address_digest(self.address_key, address)
            self._check_address(session, address_hash, now)
            try:
                self._check_own_password(session, account, password, now, address_hash)
            except InvalidCredentials:
                self._address_failed(session, address_hash, now)
                raise
        else:
            domain.check_password_rules(password)
            session.execute(accounts.update().where(accounts.c.id == account.id).values(
                password_hash=self.hasher.hash(password), status=AccountStatus.ACTIVE,
                activated_at=now))
        session.execute(invitations.update().where(invitations.c.id == invitation.id)
                        .values(used_at=now))
        m = memberships
        accepted = [r.role for r in session.execute(sa.select(m.c.role).where(
            m.c.account_id == account.id, _invited_by(m.c.school_id, invitation),
            m.c.status == PENDING).order_by(m.c.created_at))]
        session.execute(m.update().where(
            m.c.account_id == account.id, _invited_by(m.c.school_id, invitation),
            m.c.status == PENDING).values(status=ACCEPTED, accepted_at=now))
        self._announce_activation(session, account.id, invitation.school_id, accepted[-1])
        log.info("invitation accepted account_id=%s school_id=%s", account.id,
                 invitation.school_id)
        return account.id

    def _announce_activation(self, session: Session, account_id: str,
                             school_id: str | None, role: str) -> None:
        """AccountActivated carries the guardian (and student) ids of the login's accepted
        memberships, so linking can attach their links; sent again when that set changes
        (a membership accepted or removed). `role`: the role at `school_id` that changed."""
        m = memberships
        rows = session.execute(sa.select(m.c.guardian_id, m.c.student_id, m.c.school_id).where(
            m.c.account_id == account_id, m.c.status == ACCEPTED)).all()
        self.outbox.add(session, "AccountActivated", {
            "account_id": account_id, "role": role,
            "guardian_ids": sorted({r.guardian_id for r in rows if r.guardian_id}),
            "student_ids": sorted({r.student_id for r in rows if r.student_id}),
            "record_schools": {r.guardian_id or r.student_id: r.school_id for r in rows
                               if r.guardian_id or r.student_id}},
            school_id=school_id)

    def remove_membership(self, session: Session, school_id: str, **subject: str) -> int:
        """Removes one school's relation; the login goes only with its last relation."""
        (column, value), = subject.items()
        m = memberships
        removed_rows = session.execute(sa.select(m.c.account_id, m.c.role, m.c.status).where(
            m.c.school_id == school_id, m.c[column] == value)).all()
        lock_accounts(session, [r.account_id for r in removed_rows])
        session.execute(m.delete().where(m.c.school_id == school_id, m.c[column] == value))
        removed = delete_orphan_accounts(session, [r.account_id for r in removed_rows])
        sign_out_accounts(session, self.outbox, accepted_logins(removed_rows),
                          revoked_before=self.clock(), token_lifetime=self.token_lifetime)
        for row in removed_rows:
            # Nothing left to accept here: the school's unused invitation stops working.
            if session.execute(sa.select(m.c.id).where(
                    m.c.account_id == row.account_id, m.c.school_id == school_id,
                    m.c.status == PENDING).limit(1)).first() is None:
                session.execute(invitations.delete().where(
                    invitations.c.account_id == row.account_id,
                    invitations.c.school_id == school_id, invitations.c.used_at.is_(None)))
            if row.status == ACCEPTED and session.execute(sa.select(accounts.c.id).where(
                    accounts.c.id == row.account_id)).first() is not None:
                # linking learns the login's remaining records
                self._announce_activation(session, row.account_id, school_id, row.role)
        return removed

    # --- school data events ---------------------------------------------------------------
    def record_guardian(self, session: Session, school_id: str, data: Mapping[str, Any]) -> None:
        self.active_school(session, school_id)
        self._record_login(session, school_id, "guardian", data["guardian_id"],
                           data["record_version"], data["email"],
                           f"{data['given_name']} {data['family_name']}")

    def _record_login(self, session: Session, school_id: str, record_type: str,
                      record_id: str, version: int, email: str, name: str) -> None:
        """A school's guardian or student record, a membership of the login of its email
        (created and invited if new): pending, with the school's invitation, until the
        person accepts; moved when the school changes the email. Older versions, and
        records the school removed, change nothing."""
        if self._removed(session, school_id, record_type, record_id, version):
            return
        role, column = {"guardian": ("parent", "guardian_id"),
                        "student": ("student", "student_id")}[record_type]
        m = memberships
        current = session.execute(sa.select(m.c.account_id, m.c.record_version).where(
            m.c.school_id == school_id, m.c[column] == record_id)).first()
        if current is not None and current.record_version > version:
            return  # an older version arriving late changes nothing
        account = self.login_for(session, email)
        if current is not None and current.account_id != account.id:
            # The school changed the email: the relation moves to that login.
            self.remove_membership(session, school_id, **{column: record_id})
        new, status = self.add_membership(session, account.id, school_id, role, name,
                                          record_version=version, **{column: record_id})
        if new and status == PENDING:
            self.issue_invitation(session, account.id, school_id)
        elif new:  # the person accepted this school in this role before
            self._announce_activation(session, account.id, school_id, role)

    def _removed(self, session: Session, school_id: str, record_type: str, record_id: str,
                 version: int) -> bool:
        return Removals(removed_records).stale(session, record_type, record_id, version)

    def remove_record(self, session: Session, school_id: str, record_type: str,
                      record_id: str, version: int) -> None:
        """GuardianRemoved / StudentRemoved: the relation (and a login left with none)
        goes; the removal's version is kept so older events cannot undo it."""
        Removals(removed_records).remember(session, school_id, record_type, record_id,
                                           version)
        self.remove_membership(session, school_id, **{f"{record_type}_id": record_id})
        if record_type == "student":
            session.execute(students.delete().where(students.c.school_id == school_id,
                                                    students.c.student_id == record_id))

    def record_student(self, session: Session, school_id: str, data: Mapping[str, Any]) -> None:
        school = self.active_school(session, school_id)
        name = f"{data['given_name']} {data['family_name']}"
        if self._removed(session, school_id, "student", data["student_id"],
                         data["record_version"]):
            return
        m = memberships
        session.execute(m.update().where(m.c.school_id == school_id,
                                         m.c.student_id == data["student_id"],
                                         m.c.record_version <= data["record_version"])
                        .values(name=name, record_version=data["record_version"]))
        if not school.student_accounts:
            return  # names are kept only where students get accounts
        row = session.execute(sa.select(students.c.record_version).where(
            students.c.school_id == school_id,
            students.c.student_id == data["student_id"])).first()
        if row is None:
            session.execute(students.insert().values(
                school_id=school_id, student_id=data["student_id"], name=name,
                record_version=data["record_version"]))
        elif row.record_version <= data["record_version"]:
            session.execute(students.update().where(
                students.c.school_id == school_id,
                students.c.student_id == data["student_id"]).values(
                name=name, record_version=data["record_version"]))

    def request_student_account(self, session: Session, school_id: str, data: Mapping[str,
                                Any]) -> None:
        school = self.active_school(session, school_id)
        if not school.student_accounts:
            return  # the school has not enabled student accounts: nothing is kept
        name = session.execute(sa.select(students.c.name).where(
            students.c.school_id == school_id,
            students.c.student_id == data["student_id"])).scalar() or "Student"
        self._record_login(session, school_id, "student", data["student_id"],
                           data["record_version"], data["email"], name)

    # --- operators ---------------------------------------------------------------------------
    def ensure_operator(self, session: Session, email: str, password: str) -> str:
        # Every web and worker process starts with this: one at a time, or two gunicorn
        # workers both insert the operator and one fails to boot.
        advisory_lock(session, "identity:bootstrap-operator")
        account = self.account_by_email(session, email)
        if account is not None:
            return account.id
        domain.check_password_rules(password)
        account_id = str(uuid.uuid4())
        session.execute(accounts.insert().values(
            id=account_id, email=domain.normalise_email(email), name="Operator",
            kind=AccountKind.OPERATOR, password_hash=self.hasher.hash(password),
            status=AccountStatus.ACTIVE, created_at=self.clock(), activated_at=self.clock()))
        log.info("bootstrap operator created account_id=%s", account_id)
        return account_id


def _same_school(column, school_id: str | None):
    return column.is_(None) if school_id is None else column == school_id


def _invited_by(school_column, invitation):
    """The memberships an invitation accepts: its school's. An invitation without a school
    was issued before invitations were per school (migration 0003) and accepts every
    pending membership of its login, as it promised then."""
    if invitation.school_id is None:
        return sa.true()
    return school_column == invitation.school_id
