"""Identity's logins, their memberships of schools and the invitations that make them
count, as schools invite staff and push guardian and student records (a part of
Identity, service.py)."""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Callable, NamedTuple, cast

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from shared.db import advisory_lock, among, insert_many, insert_unless_present
from shared.db_update import update_many
from shared.messaging.envelope import new_envelope
from shared.messaging.outbox import Outbox
from shared.rights.participant import lock_school_data

from . import domain
from .domain import (AccountKind, AccountStatus, Conflict, InvalidCredentials,
                     MembershipStatus, Throttled, TokenUnusable, Unknown)
from .models import accounts, invitations, mail_sends, memberships
from .personal_data import accepted_logins, delete_orphan_accounts
from .revocation import lock_accounts, sign_out_accounts

log = logging.getLogger(__name__)
PENDING, ACCEPTED = MembershipStatus.PENDING, MembershipStatus.ACCEPTED


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
        return self.logins_for(session, [email])[email]

    def logins_for(self, session: Session, emails: Sequence[str]) -> dict[str, Any]:
        """One login per person: the account of each email (as given -> its row), created
        (invited, nothing of any school's on it) if new. The same statements run whether
        or not one existed, so neither the answer nor the work tells a school that it
        did: one insert of them all, one read."""
        wanted = {email: domain.normalise_email(email) for email in emails}
        now = self.clock()
        insert_unless_present(session, accounts, [{
            "id": str(uuid.uuid4()), "email": address, "name": None,
            "kind": AccountKind.PERSON, "status": AccountStatus.INVITED, "created_at": now}
            for address in sorted(set(wanted.values()))], ("email",))
        rows = {r.email: r for r in session.execute(sa.select(accounts).where(
            among(accounts.c.email, sorted(set(wanted.values()))))).all()}
        return {email: rows[address] for email, address in wanted.items()}

    def add_membership(self, session: Session, account_id: str, school_id: str, role: str,
                       name: str) -> tuple[bool, str]:
        (_, new, status), = self.add_memberships(session, school_id, role,
                                                 [(account_id, name, 0, {})])
        return new, status

    def add_memberships(self, session: Session, school_id: str, role: str,
                        wanted: Sequence[tuple[str, str, int, Mapping[str, str]]]
                        ) -> list[tuple[str, bool, str]]:
        """This school's relations to logins (account, name, record version, the record
        id: {"guardian_id": …}, {"student_id": …} or {}), each (account, new?, status).
        A new one is pending until the person accepts the school's invitation, unless they
        already accepted this school in this role (the school knows their login then)."""
        m = memberships
        ids = sorted({account_id for account_id, *_ in wanted})
        held = session.execute(
            sa.select(m.c.id, m.c.status, m.c.account_id, m.c.guardian_id, m.c.student_id)
            .where(among(m.c.account_id, ids), m.c.school_id == school_id, m.c.role == role)
        ).all()
        existing = {(r.account_id, r.guardian_id, r.student_id): r for r in held}
        accepted = {r.account_id for r in held if r.status == ACCEPTED}
        now, out, updates, inserts = self.clock(), [], [], []
        for account_id, name, version, record in wanted:
            found = existing.get((account_id, record.get("guardian_id"),
                                  record.get("student_id")))
            if found is not None:
                updates.append({"id": found.id, "name": name, "record_version": version})
                out.append((account_id, False, found.status))
                continue
            status = ACCEPTED if account_id in accepted else PENDING
            inserts.append(dict(
                id=str(uuid.uuid4()), account_id=account_id, school_id=school_id,
                role=role, guardian_id=record.get("guardian_id"),
                student_id=record.get("student_id"), name=name, record_version=version,
                created_at=now, status=status,
                accepted_at=now if status == ACCEPTED else None))
            out.append((account_id, True, status))
        update_many(session, m, ("id",), updates)
        insert_many(session, m, inserts)
        return out

    def invite_staff(self, session: Session, school_id: str, name: str, email: str,
                     role: str) -> str:
        """The staff login's id, with a pending membership and an invitation: the same
        answer, id and work whether or not the email has a login anywhere (one login may
        be staff here and a parent or staff elsewhere; it joins this school's staff only
        when the person accepts)."""
        # As a data event: an offboarding of the school waits for this login, or it for it.
        lock_school_data(session, [school_id], shared=True)
        self.active_school(session, school_id)
        account = self.login_for(session, email)
        _, status = self.add_membership(session, account.id, school_id, role, name)
        if status == PENDING:
            self.issue_invitation(session, account.id, school_id)
        return account.id

    def issue_invitation(self, session: Session, account_id: str,
                         school_id: str) -> dt.datetime | None:
        """A new single-use token for this school's pending memberships of the login
        (earlier unused ones of the school stop working). None when the hourly cap is
        hit."""
        issued = self.issue_invitations(session, school_id, [account_id])
        if account_id not in issued:
            raise Conflict("This person has accepted the school's invitation already.")
        return issued[account_id]

    def issue_invitations(self, session: Session, school_id: str,
                          account_ids: Sequence[str]) -> dict[str, dt.datetime | None]:
        """issue_invitation for many logins of one school, with a few statements: when
        each invitation expires (None: the login's hourly cap was hit). A login with no
        pending membership at the school gets none and is left out. The token's hash is
        kept; the token itself travels once, in InvitationIssued."""
        ids = sorted(set(account_ids))
        if not ids:
            return {}
        a = accounts
        logins = {r.id: r for r in session.execute(sa.select(a.c.id, a.c.email, a.c.status).where(
            among(a.c.id, ids)).order_by(a.c.id).with_for_update())}
        held = _held_at(session, ids, school_id)
        pending = sorted(a for a in ids if held[a].pending is not None)
        allowed = self._may_mail_many(session, pending, "invitation", school_id)
        for account_id in sorted(set(pending) - allowed):
            log.warning("invitation mail capped account_id=%s school_id=%s", account_id,
                        school_id)
        issued: dict[str, dt.datetime | None] = {a: None for a in pending}
        if not allowed:
            return issued
        session.execute(invitations.delete().where(among(invitations.c.account_id,
            sorted(allowed)), invitations.c.school_id == school_id,
            invitations.c.used_at.is_(None)))
        now, rows, envelopes = self.clock(), [], []
        for account_id in sorted(allowed):
            token, invitation_id = domain.new_secret(), str(uuid.uuid4())
            issued[account_id] = expires_at = now + self.invitation_lifetime
            rows.append(dict(id=invitation_id, account_id=account_id, school_id=school_id,
                             token_hash=domain.hash_secret(token), created_at=now,
                             expires_at=expires_at))
            role, name = cast(tuple[str, str], held[account_id].pending)  # one of `pending`
            account = logins[account_id]
            # The mail tells an existing login to accept with its own password; only the
            # person reads it, never the school.
            envelopes.append(new_envelope("InvitationIssued", {
                "invitation_id": invitation_id, "account_id": account_id, "role": role,
                "guardian_ids": held[account_id].guardian_ids,
                "student_ids": held[account_id].student_ids, "name": name,
                "email": account.email, "token": token, "expires_at": expires_at,
                "existing_login": account.status == AccountStatus.ACTIVE},
                producer=self.outbox.producer, school_id=school_id))
            log.info("invitation issued account_id=%s invitation_id=%s", account_id,
                     invitation_id)
        insert_many(session, invitations, rows)
        self.outbox.add_many(session, envelopes)
        return issued

    def resend_invitation(self, session: Session, account_id: str,
                          school_ids: tuple[str, ...] | None,
                          school_id: str | None = None) -> dt.datetime:
        """By an operator (school_ids None: any school, or the one named) or an admin of
        one of the login's schools, for that school's pending memberships."""
        m = memberships
        query = sa.select(m.c.school_id).where(m.c.account_id == account_id)
        if school_ids is not None:
            query = query.where(among(m.c.school_id, school_ids))
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
        return bool(self._may_mail_many(session, [account_id], kind, school_id))

    def _may_mail_many(self, session: Session, account_ids: Sequence[str], kind: str,
                       school_id: str | None = None) -> set[str]:
        """The logins that may be sent one more mail of this kind within the hourly cap,
        each send counted."""
        if not account_ids:
            return set()
        now = self.clock()
        hour_ago = now - dt.timedelta(hours=1)
        sent = dict(session.execute(
            sa.select(mail_sends.c.account_id, sa.func.count()).where(
                among(mail_sends.c.account_id, sorted(account_ids)), mail_sends.c.kind == kind,
                _same_school(mail_sends.c.school_id, school_id),
                mail_sends.c.sent_at > hour_ago).group_by(mail_sends.c.account_id)).all())
        allowed = sorted(a for a in set(account_ids)
                         if sent.get(a, 0) < domain.MAILS_PER_ACCOUNT_PER_HOUR)
        if allowed:
            session.execute(mail_sends.delete().where(among(mail_sends.c.account_id, allowed),
                                                      mail_sends.c.sent_at <= hour_ago))
            insert_many(session, mail_sends, [
                {"account_id": a, "kind": kind, "school_id": school_id, "sent_at": now}
                for a in allowed])
        return set(allowed)

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
                 address: str = "unknown", language: str | None = None) -> str:
        """Accepts the school's invitation: the login's pending memberships there count
        from now on. A new login sets its password; an existing one proves it with its
        own (an invitation never overwrites an active password), limited like a sign-in
        from `address`. A `language` given is recorded as the login's (Languages)."""
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
        if language is not None:  # offered on the activation page (issue 29)
            self.choose_language(session, account.id, language)
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


class Held(NamedTuple):
    """What a login holds at a school: the role and name of its latest pending membership
    (None: none is pending), and the guardian and student ids of all its memberships."""
    pending: tuple[str, str] | None
    guardian_ids: list[str]
    student_ids: list[str]


def _held_at(session: Session, account_ids: list[str], school_id: str) -> dict[str, Held]:
    """What each login holds at the school."""
    m = memberships
    rows = session.execute(sa.select(m.c.account_id, m.c.role, m.c.name, m.c.status,
                                     m.c.guardian_id, m.c.student_id)
                           .where(among(m.c.account_id, account_ids), m.c.school_id == school_id)
                           .order_by(m.c.created_at.desc(), m.c.id)).all()
    by_account: dict[str, list[Any]] = {account_id: [] for account_id in account_ids}
    for row in rows:
        by_account[row.account_id].append(row)
    held: dict[str, Held] = {}
    for account_id, mine in by_account.items():
        latest = next(((r.role, r.name) for r in mine if r.status == PENDING), None)
        held[account_id] = Held(latest, sorted({r.guardian_id for r in mine if r.guardian_id}),
                                sorted({r.student_id for r in mine if r.student_id}))
    return held


def _same_school(column, school_id: str | None):
    return column.is_(None) if school_id is None else column == school_id


def _invited_by(school_column, invitation):
    """The memberships an invitation accepts: its school's. An invitation without a school
    was issued before invitations were per school (migration 0003) and accepts every
    pending membership of its login, as it promised then."""
    if invitation.school_id is None:
        return sa.true()
    return school_column == invitation.school_id
