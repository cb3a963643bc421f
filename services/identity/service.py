"""Identity use cases: each takes the open transaction and writes its events to the outbox
in it. The API and the event handlers call these; the rules live in domain.py."""
from __future__ import annotations

import datetime as dt
import hmac
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from shared.db import advisory_lock, utcnow
from shared.messaging.outbox import Outbox
from shared.removals import Removals

from . import domain
from .domain import (Conflict, InvalidCredentials, InvalidGrant, Throttled, TokenUnusable,
                     Unknown)
from .keys import KeyRing
from .personal_data import delete_orphan_accounts
from .models import (accounts, address_failures, clients, invitations, mail_sends,
                     memberships, password_resets, refresh_tokens, removed_records, schools,
                     students)

log = logging.getLogger(__name__)


@dataclass
class Identity:
    """The identity service's dependencies, wired once per process (app.py)."""
    outbox: Outbox
    keys: KeyRing
    hasher: PasswordHasher
    invitation_lifetime: dt.timedelta
    refresh_lifetime: dt.timedelta
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
            id=school_id, name=name, status="active", student_accounts=student_accounts,
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
        return status in ("offboarding", "offboarded")

    def active_school(self, session: Session, school_id: str):
        row = session.execute(sa.select(schools).where(schools.c.id == school_id)).first()
        if row is None or row.status != "active":
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
            status="offboarding", offboarded_at=self.clock()))
        session.execute(clients.update().where(clients.c.school_id == school_id,
                                               clients.c.revoked_at.is_(None))
                        .values(revoked_at=self.clock()))
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

    # --- the operator's view of schools -----------------------------------------------------
    def list_schools(self, session: Session, after: str | None = None,
                     limit: int = 50) -> tuple[list[dict], str | None]:
        """Every school, offboarded ones too, by id (`after` is the last id of a page)."""
        query = sa.select(schools).order_by(schools.c.id).limit(limit + 1)
        if after:
            query = query.where(schools.c.id > after)
        rows = session.execute(query).all()
        page = rows[:limit]
        return ([_school_view(r) for r in page],
                page[-1].id if len(rows) > limit else None)

    def school_detail(self, session: Session, school_id: str) -> dict:
        """One school with its admins (name and email: the operator runs the onboarding)
        and its school-system clients (ids and dates, never a secret)."""
        row = session.execute(sa.select(schools).where(schools.c.id == school_id)).first()
        if row is None:
            raise Unknown("no such school")
        m, a = memberships, accounts
        admins = session.execute(
            sa.select(a.c.id, m.c.name, a.c.email, a.c.status, m.c.created_at,
                      a.c.activated_at)
            .select_from(m.join(a, a.c.id == m.c.account_id))
            .where(m.c.school_id == school_id, m.c.role == "school_admin")
            .order_by(m.c.created_at, a.c.id)).all()
        issued = session.execute(
            sa.select(clients.c.id, clients.c.created_at, clients.c.revoked_at)
            .where(clients.c.school_id == school_id)
            .order_by(clients.c.created_at, clients.c.id)).all()
        return {**_school_view(row),
                "admins": [{"id": r.id, "name": r.name, "email": r.email, "status": r.status,
                            "invited_at": r.created_at, "activated_at": r.activated_at}
                           for r in admins],
                "clients": [{"client_id": r.id, "created_at": r.created_at,
                             "revoked_at": r.revoked_at} for r in issued]}

    # --- accounts and invitations --------------------------------------------------------
    def account_by_email(self, session: Session, email: str):
        return session.execute(sa.select(accounts).where(
            accounts.c.email == domain.normalise_email(email))).first()

    def ensure_account(self, session: Session, email: str, name: str, role: str):
        """One login per person: the account for this email, created (invited) if new."""
        row = self.account_by_email(session, email)
        if row is not None:
            return row, False
        account_id = str(uuid.uuid4())
        session.execute(accounts.insert().values(
            id=account_id, email=domain.normalise_email(email), name=name, role=role,
            status="invited", created_at=self.clock(), failed_logins=0))
        return session.execute(sa.select(accounts).where(accounts.c.id == account_id)).one(), True

    def add_membership(self, session: Session, account_id: str, school_id: str, role: str,
                       name: str, *, guardian_id: str | None = None,
                       student_id: str | None = None, record_version: int = 0) -> bool:
        m = memberships
        existing = session.execute(sa.select(m.c.id).where(
            m.c.account_id == account_id, m.c.school_id == school_id,
            m.c.guardian_id.is_(None) if guardian_id is None else m.c.guardian_id == guardian_id,
            m.c.student_id.is_(None) if student_id is None else m.c.student_id == student_id,
            m.c.role == role)).first()
        if existing:
            session.execute(m.update().where(m.c.id == existing.id).values(
                name=name, record_version=record_version))
            return False
        session.execute(m.insert().values(
            id=str(uuid.uuid4()), account_id=account_id, school_id=school_id, role=role,
            guardian_id=guardian_id, student_id=student_id, name=name,
            record_version=record_version, created_at=self.clock()))
        return True

    def invite_staff(self, session: Session, school_id: str, name: str, email: str,
                     role: str, *, by_operator: bool) -> str:
        """The staff account's id. An email already used by an account of another kind
        cannot become staff: operators are told (409); a school admin gets the same answer
        as for anyone else and nothing happens, so schools cannot probe who has a login."""
        self.active_school(session, school_id)
        account, created = self.ensure_account(session, email, name, role)
        if not created and account.role not in domain.STAFF_ROLES:
            if by_operator:
                raise Conflict("This email already belongs to an account of another kind.")
            log.warning("staff invitation not applied (email held by another kind of "
                        "account) account_id=%s school_id=%s", account.id, school_id)
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{school_id}/{account.id}"))
        self.add_membership(session, account.id, school_id, role, name)
        if account.status != "active":
            self.issue_invitation(session, account.id, school_id)
        return account.id

    def issue_invitation(self, session: Session, account_id: str,
                         school_id: str | None) -> dt.datetime | None:
        """A new single-use token (earlier unused ones stop working); its hash is kept, the
        token itself travels once, in InvitationIssued. None when the hourly cap is hit."""
        account = session.execute(sa.select(accounts).where(accounts.c.id == account_id)
                                  .with_for_update()).one()
        if account.status == "active":
            raise Conflict("This account is already active.")
        if not self._may_mail(session, account_id, "invitation"):
            log.warning("invitation mail capped account_id=%s", account_id)
            return None
        session.execute(invitations.delete().where(invitations.c.account_id == account_id,
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
        self.outbox.add(session, "InvitationIssued", {
            "invitation_id": invitation_id, "account_id": account_id, "role": account.role,
            "guardian_ids": sorted({r.guardian_id for r in records if r.guardian_id}),
            "student_ids": sorted({r.student_id for r in records if r.student_id}),
            "name": account.name, "email": account.email, "token": token,
            "expires_at": expires_at}, school_id=school_id)
        log.info("invitation issued account_id=%s invitation_id=%s", account_id,
                 invitation_id)
        return expires_at

    def resend_invitation(self, session: Session, account_id: str,
                          school_ids: tuple[str, ...] | None) -> dt.datetime:
        """By an operator (school_ids None) or an admin of one of the account's schools."""
        m = memberships
        query = sa.select(m.c.school_id).where(m.c.account_id == account_id)
        if school_ids is not None:
            query = query.where(m.c.school_id.in_(school_ids))
        school = session.execute(query.limit(1)).first()
        if school is None:
            raise Unknown("no such account")
        expires_at = self.issue_invitation(session, account_id, school.school_id)
        if expires_at is None:
            raise Throttled(3600)
        return expires_at

    def _may_mail(self, session: Session, account_id: str, kind: str) -> bool:
        now = self.clock()
        sent = session.execute(sa.select(sa.func.count()).select_from(mail_sends).where(
            mail_sends.c.account_id == account_id, mail_sends.c.kind == kind,
            mail_sends.c.sent_at > now - dt.timedelta(hours=1))).scalar_one()
        if sent >= domain.MAILS_PER_ACCOUNT_PER_HOUR:
            return False
        session.execute(mail_sends.delete().where(
            mail_sends.c.account_id == account_id,
            mail_sends.c.sent_at <= now - dt.timedelta(hours=1)))
        session.execute(mail_sends.insert().values(account_id=account_id, kind=kind,
                                                   sent_at=now))
        return True

    def activate(self, session: Session, token: str, password: str) -> str:
        domain.check_password_rules(password)
        now = self.clock()
        invitation = session.execute(sa.select(invitations).where(
            invitations.c.token_hash == domain.hash_secret(token)).with_for_update()).first()
        if invitation is None or invitation.used_at is not None or invitation.expires_at <= now:
            raise TokenUnusable("This invitation link is not valid (used or expired).")
        status = session.execute(sa.select(accounts.c.status).where(
            accounts.c.id == invitation.account_id).with_for_update()).scalar()
        if status != "invited":  # an invitation never overwrites an active password
            raise TokenUnusable("This invitation link is not valid (used or expired).")
        session.execute(invitations.update().where(invitations.c.id == invitation.id)
                        .values(used_at=now))
        session.execute(accounts.update().where(accounts.c.id == invitation.account_id).values(
            password_hash=self.hasher.hash(password), status="active", activated_at=now,
            failed_logins=0, locked_until=None))
        self._announce_activation(session, invitation.account_id, invitation.school_id)
        log.info("account activated account_id=%s", invitation.account_id)
        return invitation.account_id

    def _announce_activation(self, session: Session, account_id: str,
                             school_id: str | None) -> None:
        """AccountActivated carries the guardian (and student) ids the login holds, so
        linking can attach their links; sent again when an active login gains some."""
        account = session.execute(sa.select(accounts).where(accounts.c.id == account_id)).one()
        rows = session.execute(sa.select(memberships.c.guardian_id, memberships.c.student_id)
                               .where(memberships.c.account_id == account_id)).all()
        self.outbox.add(session, "AccountActivated", {
            "account_id": account_id, "role": account.role,
            "guardian_ids": sorted({r.guardian_id for r in rows if r.guardian_id}),
            "student_ids": sorted({r.student_id for r in rows if r.student_id})},
            school_id=school_id)

    def remove_membership(self, session: Session, school_id: str, **subject: str) -> int:
        """Removes one school's relation; the login goes only with its last relation."""
        (column, value), = subject.items()
        m = memberships
        account_ids = session.execute(sa.select(m.c.account_id).where(
            m.c.school_id == school_id, m.c[column] == value)).scalars().all()
        session.execute(m.delete().where(m.c.school_id == school_id, m.c[column] == value))
        removed = delete_orphan_accounts(session, account_ids)
        for account_id in set(account_ids):
            status = session.execute(sa.select(accounts.c.status).where(
                accounts.c.id == account_id)).scalar()
            if status == "active":  # linking learns the login's remaining records
                self._announce_activation(session, account_id, school_id)
        return removed

    # --- school data events ---------------------------------------------------------------
    def record_guardian(self, session: Session, school_id: str, data: dict) -> None:
        self.active_school(session, school_id)
        self._record_login(session, school_id, "guardian", data["guardian_id"],
                           data["record_version"], data["email"],
                           f"{data['given_name']} {data['family_name']}")

    def _record_login(self, session: Session, school_id: str, record_type: str,
                      record_id: str, version: int, email: str, name: str) -> None:
        """A school's guardian or student record held by the login of its email: created
        and invited if new; moved when the school changes the email; older versions,
        and records the school removed, change nothing."""
        if self._removed(session, school_id, record_type, record_id, version):
            return
        role, column = {"guardian": ("parent", "guardian_id"),
                        "student": ("student", "student_id")}[record_type]
        m = memberships
        current = session.execute(sa.select(m.c.account_id, m.c.record_version).where(
            m.c.school_id == school_id, m.c[column] == record_id)).first()
        if current is not None and current.record_version > version:
            return  # an older version arriving late changes nothing
        account, created = self.ensure_account(session, email, name, role)
        if account.role != role:
            raise domain.IdentityError(f"email belongs to a non-{role} account")
        if current is not None and current.account_id != account.id:
            # The school changed the email: the relation moves to that login.
            self.remove_membership(session, school_id, **{column: record_id})
        new = self.add_membership(session, account.id, school_id, role, name,
                                  record_version=version, **{column: record_id})
        if account.status != "active" and (new or created):
            self.issue_invitation(session, account.id, school_id)
        elif account.status == "active" and new:
            self._announce_activation(session, account.id, school_id)

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
    def sign_in(self, session: Session, email: str, password: str, address: str) -> dict:
        now = self.clock()
        self._check_address(session, address, now)
        account = session.execute(sa.select(accounts).where(
            accounts.c.email == domain.normalise_email(email)).with_for_update()).first()
        if account is None or account.status != "active":
            domain.burn_password_check(self.hasher, password)
            self._address_failed(session, address, now)
            raise InvalidCredentials()
        if account.locked_until is not None and account.locked_until > now:
            # Locked: the password is not checked, whatever is guessed; the same work is
            # burnt so the answer's timing does not tell a locked account from none.
            domain.burn_password_check(self.hasher, password)
            self._address_failed(session, address, now)
            raise InvalidCredentials()
        self.password_checks += 1
        if not domain.verify_password(self.hasher, account.password_hash, password):
            failures = account.failed_logins + 1
            lock = self.throttle.account_lock(failures)
            session.execute(accounts.update().where(accounts.c.id == account.id).values(
                failed_logins=failures, locked_until=now + lock if lock else None))
            self._address_failed(session, address, now)
            log.info("sign-in failed account_id=%s failures=%d", account.id, failures)
            raise InvalidCredentials()
        values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
        if self.hasher.check_needs_rehash(account.password_hash):
            values["password_hash"] = self.hasher.hash(password)
        session.execute(accounts.update().where(accounts.c.id == account.id).values(**values))
        return self._tokens(session, account, family_id=str(uuid.uuid4()))

    def _check_address(self, session: Session, address: str, now: dt.datetime) -> None:
        row = session.execute(sa.select(address_failures).where(
            address_failures.c.address_hash == domain.hash_secret(address))).first()
        if (row is not None and row.window_start + self.throttle.address_window > now
                and row.failures >= self.throttle.address_max_failures):
            raise Throttled(domain.seconds_until(row.window_start + self.throttle.address_window,
                                                 now))

    def _address_failed(self, session: Session, address: str, now: dt.datetime) -> None:
        key = domain.hash_secret(address)
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

    def school_ids(self, session: Session, account_id: str) -> list[str]:
        return sorted(set(session.execute(sa.select(memberships.c.school_id).where(
            memberships.c.account_id == account_id)).scalars().all()))

    def _tokens(self, session: Session, account, family_id: str) -> dict:
        now = self.clock()
        refresh = domain.new_secret()
        session.execute(refresh_tokens.insert().values(
            id=str(uuid.uuid4()), account_id=account.id, family_id=family_id,
            token_hash=domain.hash_secret(refresh), issued_at=now,
            expires_at=now + self.refresh_lifetime))
        signer = self.keys.signer(session.connection())
        access = signer.issue(account.id, account.role, self.school_ids(session, account.id))
        return {"access_token": access, "token_type": "Bearer", "expires_in": signer.lifetime,
                "refresh_token": refresh}

    def refresh(self, session: Session, token: str) -> dict:
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
            # A rotated token used again: stolen or replayed. Revoke the whole family.
            session.execute(refresh_tokens.update().where(
                refresh_tokens.c.family_id == row.family_id,
                refresh_tokens.c.revoked_at.is_(None)).values(revoked_at=now))
            log.warning("refresh token reuse: family revoked account_id=%s family_id=%s",
                        row.account_id, row.family_id)
            raise InvalidGrant("refresh token reused; signed out everywhere it was used")
        if row.expires_at <= now:
            raise InvalidGrant("refresh token expired")
        account = session.execute(sa.select(accounts).where(
            accounts.c.id == row.account_id)).first()
        if account is None or account.status != "active":
            raise InvalidGrant("account unavailable")
        session.execute(refresh_tokens.update().where(refresh_tokens.c.id == row.id)
                        .values(rotated_at=now))
        return self._tokens(session, account, family_id=row.family_id)

    def _lock_account(self, session: Session, account_id: str) -> None:
        session.execute(sa.select(accounts.c.id).where(accounts.c.id == account_id)
                        .with_for_update())

    def logout(self, session: Session, token: str) -> None:
        row = session.execute(sa.select(refresh_tokens.c.family_id,
                                        refresh_tokens.c.account_id).where(
            refresh_tokens.c.token_hash == domain.hash_secret(token))).first()
        if row is not None:
            self._lock_account(session, row.account_id)
            session.execute(refresh_tokens.update().where(
                refresh_tokens.c.family_id == row.family_id,
                refresh_tokens.c.revoked_at.is_(None)).values(revoked_at=self.clock()))

    def client_credentials(self, session: Session, client_id: str, secret: str) -> dict:
        row = session.execute(sa.select(clients).where(clients.c.id == client_id)).first()
        if (row is None or row.revoked_at is not None
                or not _same(row.secret_hash, domain.hash_secret(secret))):
            raise InvalidCredentials()
        school = session.execute(sa.select(schools.c.status).where(
            schools.c.id == row.school_id)).scalar()
        if school != "active":
            raise InvalidCredentials()
        signer = self.keys.signer(session.connection())
        return {"access_token": signer.issue(client_id, "school_system", [row.school_id]),
                "token_type": "Bearer", "expires_in": signer.lifetime}

    # --- password reset --------------------------------------------------------------------
    def request_reset(self, session: Session, email: str) -> None:
        """Always the same answer; a mail only for an active account, within the cap."""
        account = self.account_by_email(session, email)
        if account is None or account.status != "active":
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
            "reset_id": reset_id, "account_id": account.id, "name": account.name,
            "email": account.email, "token": token, "expires_at": now + self.reset_lifetime},
            school_id=None)

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
            password_hash=self.hasher.hash(password), failed_logins=0, locked_until=None))
        # A new password signs out every session.
        session.execute(refresh_tokens.update().where(
            refresh_tokens.c.account_id == row.account_id,
            refresh_tokens.c.revoked_at.is_(None)).values(revoked_at=now))

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
            role="operator", password_hash=self.hasher.hash(password), status="active",
            created_at=self.clock(), activated_at=self.clock(), failed_logins=0))
        log.info("bootstrap operator created account_id=%s", account_id)
        return account_id

    def me(self, session: Session, account_id: str, role: str) -> dict:
        if role == "school_system":
            client = session.execute(sa.select(clients).where(
                clients.c.id == account_id, clients.c.revoked_at.is_(None))).first()
            if client is None:
                raise Unknown("no such client")
            return {"id": client.id, "role": role, "school_ids": [client.school_id],
                    "name": "School system", "email": None}
        account = session.execute(sa.select(accounts).where(accounts.c.id == account_id)).first()
        if account is None:
            raise Unknown("no such account")
        me = {"id": account.id, "role": account.role, "name": account.name,
              "email": account.email, "school_ids": self.school_ids(session, account.id)}
        if account.role == "student":  # the app lists a student's own reports by this id
            me["student_ids"] = sorted(set(session.execute(
                sa.select(memberships.c.student_id).where(
                    memberships.c.account_id == account.id,
                    memberships.c.student_id.is_not(None))).scalars().all()))
        return me


def identity_of(ctx) -> Identity:
    """The process's Identity, built once from the service context (API and handlers
    share it)."""
    if "identity" not in ctx.extras:
        settings = ctx.settings
        ctx.extras["identity"] = Identity(
            outbox=ctx.outbox, keys=KeyRing(ctx.engine, settings),
            hasher=domain.password_hasher(),
            invitation_lifetime=dt.timedelta(days=settings.invitation_days),
            refresh_lifetime=dt.timedelta(days=settings.refresh_token_days))
    return ctx.extras["identity"]


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
