"""Identity use cases: each takes the open transaction and writes its events to the outbox
in it. The API and the event handlers call these; the rules live in domain.py."""
from __future__ import annotations

import datetime as dt
import hmac
import logging
import uuid
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from shared.db import advisory_lock, insert_unless_present, utcnow
from shared.messaging.outbox import Outbox
from shared.pages import Key, Page, keyset_page
from shared.removals import Removals

from . import domain
from .domain import (AccountKind, AccountStatus, Conflict, InvalidCredentials, InvalidGrant,
                     MembershipStatus, SchoolStatus, Throttled, TokenUnusable, Unknown)
from .keys import KeyRing
from .personal_data import accepted_logins, delete_orphan_accounts
from .revocation import lock_accounts, revoke_tokens, sign_out_accounts
from .models import (accounts, address_failures, clients, invitations, mail_sends,
                     memberships, password_resets, refresh_tokens, removed_records,
                     reset_requests, schools, sign_in_failures, students)

log = logging.getLogger(__name__)
PENDING, ACCEPTED = MembershipStatus


@dataclass
class Identity:
    """The identity service's dependencies, wired once per process (app.py)."""
    outbox: Outbox
    keys: KeyRing
    hasher: PasswordHasher
    invitation_lifetime: dt.timedelta
    refresh_lifetime: dt.timedelta
    address_key: bytes  # keys the stored hashes of client addresses (secret.py)
    reset_lifetime: dt.timedelta = dt.timedelta(hours=1)
    throttle: domain.ThrottlePolicy = domain.ThrottlePolicy()
    clock: Callable[[], dt.datetime] = utcnow
    password_checks: int = 0  # argon2 verifications done (tests, metrics)

    # --- schools ----------------------------------------------------------------------
    def create_school(self, session: Session, name: str, authorisation: dict | None,
                      student_accounts: bool = False) -> str:
        school_id = str(uuid.uuid4())
        authorisation = authorisation or {}
        session.execute(schools.insert().values(
            id=school_id, name=name, status=SchoolStatus.ACTIVE, student_accounts=student_accounts,
            authorisation_reference=authorisation.get("reference"),
            authorised_by=authorisation.get("authorised_by"),
            authorised_on=authorisation.get("date"), created_at=self.clock()))
        self.outbox.add(session, "SchoolActivated", {
            "school_id": school_id, "name": name, "student_accounts": student_accounts},
            school_id=school_id)
        log.info("school created school_id=%s", school_id)
        return school_id

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
        self.active_school(session, school_id)
        allowed = {k: v for k, v in changes.items() if k in ("name", "student_accounts")}
        if allowed:
            session.execute(schools.update().where(schools.c.id == school_id).values(**allowed))
        row = self.active_school(session, school_id)
        return {"id": row.id, "name": row.name, "student_accounts": row.student_accounts,
                "status": row.status}

    def offboard_school(self, session: Session, school_id: str) -> None:
        """Stops the school at once; every service, identity included, erases its data on
        SchoolOffboarded (dsar tracks the answers)."""
        self.active_school(session, school_id)
        session.execute(schools.update().where(schools.c.id == school_id).values(
            status=SchoolStatus.OFFBOARDING, offboarded_at=self.clock()))
        revoked = session.execute(clients.update().where(
            clients.c.school_id == school_id, clients.c.revoked_at.is_(None))
            .values(revoked_at=self.clock()).returning(clients.c.id)).scalars().all()
        for client_id in revoked:  # the school's people follow as identity erases them
            self._revoke(session, client_id, "client_revoked")
        self.outbox.add(session, "SchoolOffboarded", {"school_id": school_id},
                        school_id=school_id)
        log.info("school offboarding school_id=%s", school_id)

    # --- school-system clients ---------------------------------------------------------
    def create_client(self, session: Session, school_id: str) -> tuple[str, str]:
        self.active_school(session, school_id)
        client_id, secret = str(uuid.uuid4()), domain.new_secret()
        session.execute(clients.insert().values(
            id=client_id, school_id=school_id, secret_hash=domain.hash_secret(secret),
            created_at=self.clock()))
        log.info("client issued client_id=%s school_id=%s", client_id, school_id)
        return client_id, secret

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

    def _check_own_password(self, session: Session, account, password: str,
                            now: dt.datetime, address_hash: str) -> None:
        """The login's own password, under the lock of the (account, address) pair:
        InvalidCredentials if wrong (counted against that pair only) or while the pair is
        locked (not checked then). A success clears the pair."""
        pair = (sign_in_failures.c.account_id == account.id,
                sign_in_failures.c.address_hash == address_hash)
        # One attempt at a time per pair, so a burst from one address cannot slip checks
        # past its lock; other addresses (the owner's) never wait on it.
        advisory_lock(session, f"identity:sign-in:{account.id}:{address_hash}")
        locked_until = session.execute(sa.select(sign_in_failures.c.locked_until)
                                       .where(*pair)).scalar()
        if locked_until is not None and locked_until > now:
            # Locked here: the password is not checked, whatever is guessed; the same work
            # is burnt so the answer's timing does not tell a locked pair from none.
            domain.burn_password_check(self.hasher, password)
            raise InvalidCredentials()
        self.password_checks += 1
        if not domain.verify_password(self.hasher, account.password_hash, password):
            failures = self._pair_failed(session, account.id, address_hash, now)
            log.info("password check failed account_id=%s failures_from_address=%d",
                     account.id, failures)
            raise InvalidCredentials()
        session.execute(sign_in_failures.delete().where(*pair))

    def _announce_activation(self, session: Session, account_id: str,
                             school_id: str | None, role: str) -> None:
        """AccountActivated carries the guardian (and student) ids of the login's accepted
        memberships, so linking can attach their links; sent again when that set changes
        (a membership accepted or removed). `role`: the role at `school_id` that changed."""
        m = memberships
        rows = session.execute(sa.select(m.c.guardian_id, m.c.student_id).where(
            m.c.account_id == account_id, m.c.status == ACCEPTED)).all()
        self.outbox.add(session, "AccountActivated", {
            "account_id": account_id, "role": role,
            "guardian_ids": sorted({r.guardian_id for r in rows if r.guardian_id}),
            "student_ids": sorted({r.student_id for r in rows if r.student_id})},
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
    def record_guardian(self, session: Session, school_id: str, data: dict) -> None:
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

    def record_student(self, session: Session, school_id: str, data: dict) -> None:
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

    def request_student_account(self, session: Session, school_id: str, data: dict) -> None:
        school = self.active_school(session, school_id)
        if not school.student_accounts:
            return  # the school has not enabled student accounts: nothing is kept
        name = session.execute(sa.select(students.c.name).where(
            students.c.school_id == school_id,
            students.c.student_id == data["student_id"])).scalar() or "Student"
        self._record_login(session, school_id, "student", data["student_id"],
                           data["record_version"], data["email"], name)

    # --- sign-in -------------------------------------------------------------------------
    def sign_in(self, session: Session, email: str, password: str, address: str,
                role: str | None = None) -> dict:
        """Tokens for one role: the one named, else the login's default (a person with
        several roles switches with a refresh naming another). `address`: the client's, as
        the trusted proxies tell it (shared.proxies). Every limit here is on that address,
        alone or with the account (see ThrottlePolicy)."""
        now = self.clock()
        address_hash = domain.address_digest(self.address_key, address)
        self._check_address(session, address_hash, now)
        account = self.account_by_email(session, email)
        roles = (self.roles(session, account)
                 if account is not None and account.status == AccountStatus.ACTIVE else [])
        if not roles:  # unknown, never activated, or no accepted role: one answer
            domain.burn_password_check(self.hasher, password)
            self._address_failed(session, address_hash, now)
            raise InvalidCredentials()
        try:
            self._check_own_password(session, account, password, now, address_hash)
        except InvalidCredentials:
            self._address_failed(session, address_hash, now)
            raise
        if self.hasher.check_needs_rehash(account.password_hash):
            session.execute(accounts.update().where(accounts.c.id == account.id).values(
                password_hash=self.hasher.hash(password)))
        return self._tokens(session, account, str(uuid.uuid4()), _acting_role(roles, role))

    def _pair_failed(self, session: Session, account_id: str, address_hash: str,
                     now: dt.datetime) -> int:
        """One more failure for (account, address); locks the pair per the policy."""
        pair = (sign_in_failures.c.account_id == account_id,
                sign_in_failures.c.address_hash == address_hash)
        known = session.execute(sa.select(sign_in_failures.c.failures).where(*pair)).scalar()
        failures = (known or 0) + 1
        lock = self.throttle.pair_lock(failures)
        values = {"failures": failures, "last_failure_at": now,
                  "locked_until": now + lock if lock else None}
        if known is None:
            session.execute(sign_in_failures.delete().where(  # forgotten pairs go
                sign_in_failures.c.last_failure_at <= now - self.throttle.pair_memory))
            session.execute(sign_in_failures.insert().values(
                account_id=account_id, address_hash=address_hash, **values))
        else:
            session.execute(sign_in_failures.update().where(*pair).values(**values))
        if lock == self.throttle.pair_max_lock:
            log.warning("sign-in guessing from one address account_id=%s failures=%d",
                        account_id, failures)
        return failures

    def _check_address(self, session: Session, address_hash: str, now: dt.datetime) -> None:
        row = session.execute(sa.select(address_failures).where(
            address_failures.c.address_hash == address_hash)).first()
        refused = row and self.throttle.address_refused(row.window_start, row.failures, now)
        if refused:
            raise Throttled(domain.seconds_until(refused, now))

    def _address_failed(self, session: Session, key: str, now: dt.datetime) -> None:
        row = session.execute(sa.select(address_failures).where(
            address_failures.c.address_hash == key).with_for_update()).first()
        if row is None:
            session.execute(address_failures.delete().where(  # expired windows go
                address_failures.c.window_start <= now - self.throttle.address_window))
            session.execute(address_failures.insert().values(address_hash=key,
                                                             window_start=now, failures=1))
        elif row.window_start + self.throttle.address_window <= now:
            session.execute(address_failures.update().where(
                address_failures.c.address_hash == key).values(window_start=now, failures=1))
        else:
            session.execute(address_failures.update().where(
                address_failures.c.address_hash == key).values(failures=row.failures + 1))

    def roles(self, session: Session, account) -> list[str]:
        """The roles the login may act in: operator (an account kind) and the roles of
        its accepted memberships, in the order of domain.ACCOUNT_ROLES."""
        held = set(session.execute(sa.select(memberships.c.role).where(
            memberships.c.account_id == account.id,
            memberships.c.status == ACCEPTED)).scalars())
        if account.kind == AccountKind.OPERATOR:
            held.add("operator")
        return [role for role in domain.ACCOUNT_ROLES if role in held]

    def school_ids(self, session: Session, account_id: str, role: str) -> list[str]:
        """The schools whose invitation the person accepted in this role."""
        return sorted(set(session.execute(sa.select(memberships.c.school_id).where(
            memberships.c.account_id == account_id, memberships.c.role == role,
            memberships.c.status == ACCEPTED)).scalars().all()))

    def _tokens(self, session: Session, account, family_id: str, role: str) -> dict:
        now = self.clock()
        refresh = domain.new_secret()
        session.execute(refresh_tokens.insert().values(
            id=str(uuid.uuid4()), account_id=account.id, family_id=family_id, role=role,
            token_hash=domain.hash_secret(refresh), issued_at=now,
            expires_at=now + self.refresh_lifetime))
        signer = self.keys.signer(session.connection())
        access = signer.issue(account.id, role, self.school_ids(session, account.id, role),
                              sid=family_id)
        return {"access_token": access, "token_type": "Bearer", "expires_in": signer.lifetime,
                "refresh_token": refresh, "role": role,
                "roles": self.roles(session, account)}

    def refresh(self, session: Session, token: str, role: str | None = None) -> dict:
        """A new pair for the same sign-in, in its role or in the role named (which the
        login must hold: RoleNotHeld, and nothing rotated, otherwise)."""
        now = self.clock()
        found = session.execute(sa.select(refresh_tokens.c.account_id).where(
            refresh_tokens.c.token_hash == domain.hash_secret(token))).first()
        if found is None:
            raise InvalidGrant("unknown refresh token")
        # The account row is the lock for its tokens: refresh, logout, reuse detection and
        # reset serialise on it, so no revocation misses a token being issued.
        self._lock_account(session, found.account_id)
        row = session.execute(sa.select(refresh_tokens).where(
            refresh_tokens.c.token_hash == domain.hash_secret(token))).first()
        if row.rotated_at is not None or row.revoked_at is not None:
            # A rotated token used again: stolen or replayed. Revoke the whole family, and
            # the access tokens it gave.
            revoked = session.execute(refresh_tokens.update().where(
                refresh_tokens.c.family_id == row.family_id,
                refresh_tokens.c.revoked_at.is_(None)).values(revoked_at=now)).rowcount
            if revoked:
                self._revoke(session, row.account_id, "refresh_reuse",
                             session_id=row.family_id)
            log.warning("refresh token reuse: family revoked account_id=%s family_id=%s",
                        row.account_id, row.family_id)
            raise InvalidGrant("refresh token reused; signed out everywhere it was used")
        if row.expires_at <= now:
            raise InvalidGrant("refresh token expired")
        account = session.execute(sa.select(accounts).where(
            accounts.c.id == row.account_id)).first()
        roles = self.roles(session, account) if account is not None else []
        if account is None or account.status != AccountStatus.ACTIVE or not roles:
            raise InvalidGrant("account unavailable")
        if role is None and row.role is not None and row.role not in roles:
            raise InvalidGrant("the sign-in's role is no longer held")
        acting = _acting_role(roles, role or row.role)
        session.execute(refresh_tokens.update().where(refresh_tokens.c.id == row.id)
                        .values(rotated_at=now))
        return self._tokens(session, account, row.family_id, acting)

    def _revoke(self, session: Session, subject_id: str, reason: str, *,
                session_id: str | None = None) -> None:
        """The access tokens of an account or client (of one sign-in, when `session_id`)
        issued until now stop working on every service (TokensRevoked)."""
        revoke_tokens(session, self.outbox, subject_id, reason=reason,
                      revoked_before=self.clock(), token_lifetime=self.token_lifetime,
                      session_id=session_id)

    @property
    def token_lifetime(self) -> int:
        return self.keys.settings.access_token_seconds

    def _lock_account(self, session: Session, account_id: str) -> None:
        session.execute(sa.select(accounts.c.id).where(accounts.c.id == account_id)
                        .with_for_update())

    def logout(self, session: Session, token: str) -> None:
        row = session.execute(sa.select(refresh_tokens.c.family_id,
                                        refresh_tokens.c.account_id).where(
            refresh_tokens.c.token_hash == domain.hash_secret(token))).first()
        if row is not None:
            self._lock_account(session, row.account_id)
            revoked = session.execute(refresh_tokens.update().where(
                refresh_tokens.c.family_id == row.family_id,
                refresh_tokens.c.revoked_at.is_(None)).values(revoked_at=self.clock())
            ).rowcount
            if revoked:  # that sign-in's access tokens stop too, on every service
                self._revoke(session, row.account_id, "logout", session_id=row.family_id)

    def client_credentials(self, session: Session, client_id: str, secret: str) -> dict:
        # Locked as revoke_client locks it: no token is issued after its revocation.
        row = session.execute(sa.select(clients).where(clients.c.id == client_id)
                              .with_for_update()).first()
        if (row is None or row.revoked_at is not None
                or not _same(row.secret_hash, domain.hash_secret(secret))):
            raise InvalidCredentials()
        school = session.execute(sa.select(schools.c.status).where(
            schools.c.id == row.school_id)).scalar()
        if school != SchoolStatus.ACTIVE:
            raise InvalidCredentials()
        signer = self.keys.signer(session.connection())
        return {"access_token": signer.issue(client_id, "school_system", [row.school_id]),
                "token_type": "Bearer", "expires_in": signer.lifetime}

    # --- password reset --------------------------------------------------------------------
    def request_reset(self, session: Session, email: str) -> None:
        """Always the same answer and the same work, whoever the email belongs to: the
        request is written down, and the worker decides (handle_reset_requests), so
        neither the answer nor its timing tells whether the email has an account."""
        email = domain.normalise_email(email)[:320]  # lower-casing may lengthen it
        session.execute(reset_requests.insert().values(
            id=str(uuid.uuid4()), email=email, requested_at=self.clock()))

    def handle_reset_requests(self, session: Session, limit: int = 500) -> int:
        """The worker's side: a mail for each active account asked about, within the
        hourly cap; nothing for other emails. Returns how many requests were handled."""
        rows = session.execute(sa.select(reset_requests.c.id, reset_requests.c.email)
                               .order_by(reset_requests.c.requested_at).limit(limit)
                               .with_for_update(skip_locked=True)).all()
        for row in rows:
            self._send_reset(session, row.email)
        if rows:
            session.execute(reset_requests.delete().where(
                reset_requests.c.id.in_([row.id for row in rows])))
        return len(rows)

    def _send_reset(self, session: Session, email: str) -> None:
        account = self.account_by_email(session, email)
        if account is None or account.status != AccountStatus.ACTIVE:
            return
        self._lock_account(session, account.id)  # the hourly cap counts under the lock
        if not self._may_mail(session, account.id, "reset"):
            log.warning("reset mail capped account_id=%s", account.id)
            return
        token, now = domain.new_secret(), self.clock()
        reset_id = str(uuid.uuid4())
        session.execute(password_resets.insert().values(
            id=reset_id, account_id=account.id, token_hash=domain.hash_secret(token),
            created_at=now, expires_at=now + self.reset_lifetime))
        self.outbox.add(session, "PasswordResetRequested", {
            "reset_id": reset_id, "account_id": account.id,
            "name": self._greeting_name(session, account),
            "email": account.email, "token": token, "expires_at": now + self.reset_lifetime},
            school_id=None)

    def _greeting_name(self, session: Session, account) -> str:
        """The name to greet the person by in their own mail: an operator's, else the one
        a school they accepted recorded most recently ("" when none)."""
        if account.kind == AccountKind.OPERATOR:
            return account.name or ""
        m = memberships
        return session.execute(sa.select(m.c.name).where(
            m.c.account_id == account.id, m.c.status == ACCEPTED)
            .order_by(m.c.accepted_at.desc(), m.c.id).limit(1)).scalar() or ""

    def reset_password(self, session: Session, token: str, password: str) -> None:
        domain.check_password_rules(password)
        now = self.clock()
        found = session.execute(sa.select(password_resets.c.account_id).where(
            password_resets.c.token_hash == domain.hash_secret(token))).first()
        if found is not None:
            self._lock_account(session, found.account_id)
        row = session.execute(sa.select(password_resets).where(
            password_resets.c.token_hash == domain.hash_secret(token))).first()
        if row is None or row.used_at is not None or row.expires_at <= now:
            raise TokenUnusable("This reset link is not valid (used or expired).")
        session.execute(password_resets.update().where(
            password_resets.c.account_id == row.account_id,
            password_resets.c.used_at.is_(None)).values(used_at=now))
        session.execute(accounts.update().where(accounts.c.id == row.account_id).values(
            password_hash=self.hasher.hash(password)))
        # The owner proved their email: every address's lock on the account is lifted.
        session.execute(sign_in_failures.delete().where(
            sign_in_failures.c.account_id == row.account_id))
        # A new password signs out every session, and every access token issued so far.
        session.execute(refresh_tokens.update().where(
            refresh_tokens.c.account_id == row.account_id,
            refresh_tokens.c.revoked_at.is_(None)).values(revoked_at=now))
        self._revoke(session, row.account_id, "password_reset")

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

    def me(self, session: Session, account_id: str, role: str) -> dict:
        if role == "school_system":
            client = session.execute(sa.select(clients).where(
                clients.c.id == account_id, clients.c.revoked_at.is_(None))).first()
            if client is None:
                raise Unknown("no such client")
            return {"id": client.id, "role": role, "roles": [role],
                    "school_ids": [client.school_id], "name": "School system", "email": None}
        account = session.execute(sa.select(accounts).where(accounts.c.id == account_id)).first()
        if account is None:
            raise Unknown("no such account")
        m = memberships
        accepted = session.execute(sa.select(m.c.name, m.c.student_id).where(
            m.c.account_id == account.id, m.c.role == role, m.c.status == ACCEPTED)
            .order_by(m.c.accepted_at.desc(), m.c.id)).all()
        name = account.name if role == "operator" else next(
            (r.name for r in accepted), None)
        me = {"id": account.id, "role": role, "roles": self.roles(session, account),
              "name": name, "email": account.email,
              "school_ids": self.school_ids(session, account.id, role)}
        if role == "student":  # the app lists a student's own reports by this id
            me["student_ids"] = sorted({r.student_id for r in accepted if r.student_id})
        return me


def _school_view(row) -> dict:
    authorisation = None
    if row.authorisation_reference or row.authorised_by or row.authorised_on:
        authorisation = {"reference": row.authorisation_reference,
                         "authorised_by": row.authorised_by, "date": row.authorised_on}
    return {"id": row.id, "name": row.name, "status": row.status,
            "student_accounts": row.student_accounts, "authorisation": authorisation,
            "created_at": row.created_at, "offboarded_at": row.offboarded_at}


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


def _same_school(column, school_id: str | None):
    return column.is_(None) if school_id is None else column == school_id


def _invited_by(school_column, invitation):
    """The memberships an invitation accepts: its school's. An invitation without a school
    was issued before invitations were per school (migration 0003) and accepts every
    pending membership of its login, as it promised then."""
    if invitation.school_id is None:
        return sa.true()
    return school_column == invitation.school_id


def _acting_role(roles: list[str], asked: str | None) -> str:
    """The role a token is for: the one asked for, which the login must hold, else its
    default."""
    if asked is None:
        return domain.default_role(roles)
    if asked not in roles:
        raise domain.RoleNotHeld("This login does not hold that role.")
    return asked
