"""Which of the identity service's tables and columns hold personal data, and of whom.

The shared rights participant exports, erases and restricts from this declaration; the
data-map test fails on any text, date or JSON column left unclassified. Identity adds two
rules: a login goes only with its last school relation, so erasing a guardian at one school
never removes what another school holds; and a school's export holds the login only as that
school's relation shows it (what it recorded, and the person's acceptance of its
invitation), never what the login holds for another school.
"""
from __future__ import annotations

import sqlalchemy as sa

from shared.config import Settings
from shared.db import among, utcnow
from shared.messaging.outbox import OutboxState, confirmed
from shared.rights import NOT_PERSONAL, DataDeclaration, Personal, RightsParticipant
from shared.rights import TableDeclaration as T
from shared.rights.participant import Subject

from .domain import AccountKind, AccountStatus, MembershipStatus, SchoolStatus
from .models import (accounts, invitations, mail_sends, memberships, passkey_challenges,
                     passkeys, password_resets, plumbing, recovery_codes, refresh_tokens,
                     schools, second_factors)
from .revocation import EVENT as REVOCATION_EVENT, lock_accounts, sign_out_accounts

ACCOUNT = Personal("account", "sign-in and contact")

DECLARATION = DataDeclaration("identity", tables=(
    T("schools", {"id": NOT_PERSONAL, "name": NOT_PERSONAL, "status": NOT_PERSONAL,
                  "student_accounts": NOT_PERSONAL, "office_email": NOT_PERSONAL,
                  "default_language": NOT_PERSONAL,
                  "office_phone": NOT_PERSONAL,
                  "authorisation_reference": NOT_PERSONAL,
                  "authorised_by": Personal("staff", "the controller's authorisation"),
                  "authorised_on": NOT_PERSONAL, "created_at": NOT_PERSONAL,
                  "offboarded_at": NOT_PERSONAL}, school_column=None),
    # Reached through memberships (see IdentityParticipant), never by a school's subject id.
    T("accounts", {"id": NOT_PERSONAL, "email": ACCOUNT, "name": ACCOUNT,
                   "kind": NOT_PERSONAL, "password_hash": ACCOUNT, "status": NOT_PERSONAL,
                   "created_at": NOT_PERSONAL, "activated_at": NOT_PERSONAL,
                   "language": Personal("account", "the language chosen for the app and "
                                                   "emails")},
      school_column=None),
    T("memberships", {"id": NOT_PERSONAL, "account_id": NOT_PERSONAL,
                      "school_id": NOT_PERSONAL, "role": NOT_PERSONAL,
                      "guardian_id": NOT_PERSONAL, "student_id": NOT_PERSONAL,
                      "name": Personal("any", "the name the school recorded"),
                      "created_at": NOT_PERSONAL, "status": NOT_PERSONAL,
                      "accepted_at": NOT_PERSONAL},
      subjects={"guardian": "guardian_id", "student": "student_id", "staff": "account_id"}),
    T("removed_records", {"school_id": NOT_PERSONAL, "record_type": NOT_PERSONAL,
                          "record_id": NOT_PERSONAL}),
    T("students", {"school_id": NOT_PERSONAL, "student_id": NOT_PERSONAL,
                   "name": Personal("student", "student account invitation")},
      subjects={"student": "student_id"}),
    T("invitations", {"id": NOT_PERSONAL, "account_id": NOT_PERSONAL,
                      "school_id": NOT_PERSONAL, "token_hash": NOT_PERSONAL,
                      "created_at": NOT_PERSONAL, "expires_at": NOT_PERSONAL,
                      "used_at": NOT_PERSONAL}),
    T("password_resets", {"id": NOT_PERSONAL, "account_id": NOT_PERSONAL,
                          "token_hash": NOT_PERSONAL, "created_at": NOT_PERSONAL,
                          "expires_at": NOT_PERSONAL, "used_at": NOT_PERSONAL},
      school_column=None),
    T("refresh_tokens", {"id": NOT_PERSONAL, "account_id": NOT_PERSONAL,
                         "family_id": NOT_PERSONAL, "role": NOT_PERSONAL,
                         "token_hash": NOT_PERSONAL,
                         "issued_at": NOT_PERSONAL, "expires_at": NOT_PERSONAL,
                         "rotated_at": NOT_PERSONAL, "revoked_at": NOT_PERSONAL,
                         "otp_at": NOT_PERSONAL, "method": NOT_PERSONAL,
                         "passkey_id": NOT_PERSONAL, "sign_in_ends_at": NOT_PERSONAL},
      school_column=None),
    # A login's second factor: its TOTP key (sealed with identity's secret) and its
    # recovery codes (hashed); they go with the login.
    T("second_factors", {"account_id": NOT_PERSONAL,
                         "sealed_totp_key": Personal("account", "second factor, sealed"),
                         "created_at": NOT_PERSONAL, "confirmed_at": NOT_PERSONAL,
                         "pending_sealed_totp_key": Personal("account",
                                                             "second factor, sealed"),
                         "pending_created_at": NOT_PERSONAL},
      school_column=None),
    # Who reset whose second factor, at a school, and when: ids and a date. Exported and
    # erased with the person whose factor it was (a staff subject at that school).
    T("second_factor_resets", {"id": NOT_PERSONAL, "account_id": NOT_PERSONAL,
                               "school_id": NOT_PERSONAL, "actor_id": NOT_PERSONAL,
                               "actor_role": NOT_PERSONAL, "at": NOT_PERSONAL},
      subjects={"staff": "account_id"}),
    T("recovery_codes", {"id": NOT_PERSONAL, "account_id": NOT_PERSONAL,
                         "code_hash": Personal("account", "second factor recovery, hashed"),
                         "created_at": NOT_PERSONAL, "used_at": NOT_PERSONAL},
      school_column=None),
    # A login's passkeys: the credential id and public key the person's device made, and
    # the name they gave it. An access request exports the names and dates, never the
    # credential or key (IdentityParticipant.export); they go with the login.
    T("passkeys", {"id": NOT_PERSONAL, "account_id": NOT_PERSONAL,
                   "credential_id": Personal("account", "passkey sign-in, its credential"),
                   "public_key": Personal("account", "passkey sign-in, its public key"),
                   "sign_count": NOT_PERSONAL,
                   "name": Personal("account", "passkey sign-in, the name given to it"),
                   "created_at": NOT_PERSONAL, "last_used_at": NOT_PERSONAL,
                   "staff_grade": NOT_PERSONAL, "added_by": NOT_PERSONAL},
      school_column=None),
    T("passkey_challenges", {"id": NOT_PERSONAL, "purpose": NOT_PERSONAL,
                             "account_id": NOT_PERSONAL, "challenge": NOT_PERSONAL,
                             "expires_at": NOT_PERSONAL, "sign_in_id": NOT_PERSONAL,
                             "address_hash": Personal("any", "sign-in throttling, hashed")},
      school_column=None),
    T("clients", {"id": NOT_PERSONAL, "school_id": NOT_PERSONAL, "secret_hash": NOT_PERSONAL,
                  "created_at": NOT_PERSONAL, "revoked_at": NOT_PERSONAL}),
    T("client_schools", {"client_id": NOT_PERSONAL, "school_id": NOT_PERSONAL,
                         "granted_at": NOT_PERSONAL}),
    T("address_failures", {"address_hash": Personal("any", "sign-in throttling, hashed"),
                           "window_start": NOT_PERSONAL}, school_column=None),
    T("sign_in_failures", {"account_id": NOT_PERSONAL,
                           "address_hash": Personal("account", "sign-in throttling, hashed"),
                           "locked_until": NOT_PERSONAL, "last_failure_at": NOT_PERSONAL},
      school_column=None),
    T("reset_requests", {"id": NOT_PERSONAL,
                         "email": Personal("any", "a password reset asked for, until handled"),
                         "requested_at": NOT_PERSONAL}, school_column=None),
    T("mail_sends", {"account_id": NOT_PERSONAL, "school_id": NOT_PERSONAL,
                     "kind": NOT_PERSONAL, "sent_at": NOT_PERSONAL}, school_column=None),
    T("signing_keys", {"kid": NOT_PERSONAL, "sealed_private_key": NOT_PERSONAL,
                       "created_at": NOT_PERSONAL, "retired_at": NOT_PERSONAL},
      school_column=None),
))

# The membership column a rights subject of each type is found by.
SUBJECT_COLUMNS = {"guardian": "guardian_id", "student": "student_id", "staff": "account_id"}


class IdentityParticipant(RightsParticipant):
    """The shared participant, plus: the subject's login is exported as the school's
    relations show it, and deleted when its last school relation goes; either way its
    tokens stop."""

    # The access tokens' lifetime (set from the settings when identity starts).
    token_lifetime: int = Settings().access_token_seconds

    def _memberships_of(self, session, subject: Subject) -> list:
        column = SUBJECT_COLUMNS[subject.type]
        return session.execute(sa.select(memberships.c.account_id, memberships.c.status)
                               .where(memberships.c.school_id == subject.school_id,
                                      memberships.c[column] == subject.id)).all()

    def export(self, session, subject: Subject):
        """The login as this school knows it, one entry per relation: the email and name
        the school recorded, the role it gave, and whether (and when) the person accepted
        its invitation. Never the login's own dates, status, name or other schools: until
        the person accepts, this is what an email nobody uses would export."""
        out = super().export(session, subject)
        column = SUBJECT_COLUMNS[subject.type]
        m = memberships
        rows = session.execute(
            sa.select(m.c.account_id, accounts.c.email, m.c.name, m.c.role, m.c.status,
                      m.c.created_at, m.c.accepted_at, accounts.c.language)
            .select_from(m.join(accounts, accounts.c.id == m.c.account_id))
            .where(m.c.school_id == subject.school_id, m.c[column] == subject.id)
            .order_by(m.c.created_at, m.c.id)).all()
        out["accounts"] = [{
            "id": r.account_id, "email": r.email, "name": r.name, "role": r.role,
            "status": AccountStatus.ACTIVE if r.status == MembershipStatus.ACCEPTED
            else AccountStatus.INVITED,
            "created_at": r.created_at.isoformat(),
            "activated_at": r.accepted_at.isoformat() if r.accepted_at else None,
            # the language the person chose (issue 29), once they accepted (before: theirs)
            "language": r.language if r.status == MembershipStatus.ACCEPTED else None,
            **staff_factor(session, r)}
            for r in rows]
        # The person's passkeys, once they accepted this school's invitation (before, the
        # login is nobody's this school knows): names and dates only, never a key.
        accepted = sorted({r.account_id for r in rows
                           if r.status == MembershipStatus.ACCEPTED})
        out["passkeys"] = [{
            "name": p.name, "created_at": p.created_at.isoformat(),
            "last_used_at": p.last_used_at.isoformat() if p.last_used_at else None}
            for p in session.execute(sa.select(passkeys.c.name, passkeys.c.created_at,
                                               passkeys.c.last_used_at)
                                     .where(among(passkeys.c.account_id, accepted))
                                     .order_by(passkeys.c.created_at, passkeys.c.id))
            ] if accepted else []
        return out

    def erase(self, session, subject: Subject):
        rows = self._memberships_of(session, subject)
        ids = [r.account_id for r in rows]
        lock_accounts(session, ids)
        counts = super().erase(session, subject)
        counts["accounts"] = delete_orphan_accounts(session, ids)
        self._sign_out(session, accepted_logins(rows))
        return counts

    def offboard(self, session, school_id: str):
        rows = session.execute(sa.select(memberships.c.account_id, memberships.c.status)
                               .where(memberships.c.school_id == school_id)).all()
        ids = [r.account_id for r in rows]
        lock_accounts(session, ids)
        counts = super().offboard(session, school_id)
        counts["accounts"] = delete_orphan_accounts(session, ids)
        self._sign_out(session, accepted_logins(rows))
        counts["schools"] = session.execute(schools.update().where(
            schools.c.id == school_id).values(status=SchoolStatus.OFFBOARDED,
                                              authorised_by=None, office_email=None,
                                              office_phone=None)).rowcount
        # The office's address goes too: notifications mails it the offboarding
        # certificate from the copy it held back for that (issue 30).
        return counts

    def _sign_out(self, session, account_ids) -> None:
        sign_out_accounts(session, self.outbox, account_ids, revoked_before=utcnow(),
                          token_lifetime=self.token_lifetime)


def staff_factor(session, membership) -> dict:
    """A school admin's export entry holds their second factor (second_factor_of); other
    relations hold nothing of it."""
    if membership.role != "school_admin" or membership.status != MembershipStatus.ACCEPTED:
        return {}
    return {"second_factor": second_factor_of(session, membership.account_id)}


def second_factor_of(session, account_id: str) -> dict | None:
    """A staff login's second factor as its export shows it: that an authenticator app is
    enrolled, since when, and how many recovery codes are left; never the key nor the
    codes. None when there is none."""
    row = session.execute(sa.select(second_factors.c.confirmed_at).where(
        second_factors.c.account_id == account_id,
        second_factors.c.confirmed_at.is_not(None))).first()
    if row is None:
        return None
    left = session.execute(sa.select(sa.func.count()).select_from(recovery_codes).where(
        recovery_codes.c.account_id == account_id,
        recovery_codes.c.used_at.is_(None))).scalar_one()
    return {"type": "totp", "enrolled_at": row.confirmed_at.isoformat(),
            "recovery_codes_remaining": left}


def accepted_logins(removed_memberships) -> list[str]:
    """The logins whose tokens must stop when these memberships go: those the person had
    accepted. A pending membership is in no token (a token names accepted schools only),
    so removing it revokes nothing; otherwise a school that recorded anyone's email, then
    removed the record, erased it or was offboarded, would sign that person out at every
    other school, as often as it liked."""
    return sorted({r.account_id for r in removed_memberships
                   if r.status == MembershipStatus.ACCEPTED})


def delete_orphan_accounts(session, account_ids) -> int:
    """Logins (other than operators) left with no school relation are deleted, with their
    tokens, invitations, and the events about them still in the outbox (an unsent
    InvitationIssued carries the name, email and token: it must not go out afterwards)."""
    removed = 0
    outbox = plumbing.outbox
    for account_id in set(account_ids):
        kind = session.execute(sa.select(accounts.c.kind).where(
            accounts.c.id == account_id)).scalar()
        if kind is None or kind == AccountKind.OPERATOR:
            continue
        left = session.execute(sa.select(sa.func.count()).select_from(memberships)
                               .where(memberships.c.account_id == account_id)).scalar_one()
        if left:
            continue
        for table in (invitations, password_resets, refresh_tokens, mail_sends,
                      second_factors, recovery_codes, passkeys, passkey_challenges):
            session.execute(table.delete().where(table.c.account_id == account_id))
        mentions = outbox.c.payload.like(f"%{account_id}%")
        # Unsent events about the login go, except the revocation of its tokens (ids).
        session.execute(outbox.delete().where(OutboxState.WAITING.rows(outbox), mentions,
                                              outbox.c.event_type != REVOCATION_EVENT))
        session.execute(outbox.update().where(confirmed(outbox), mentions)
                        .values(payload=None))
        removed += session.execute(accounts.delete().where(accounts.c.id == account_id)
                                   ).rowcount
    return removed

