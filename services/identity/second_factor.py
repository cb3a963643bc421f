"""Identity's second factor: TOTP enrolment and its confirmation, passing the factor after
the password, and the recovery codes (a part of Identity, service.py).

Staff and operators (domain.SECOND_FACTOR_ROLES) sign in with the password first: their
token says so (`amr` ["pwd"]) and every staff and operator endpoint refuses it
(shared.auth: 401 second_factor_required) except these. Passing the factor marks the
sign-in (its refresh-token family): its tokens say ["pwd", "otp"] and when (`otp_at`),
and a refresh keeps both. Wrong codes are limited as wrong passwords are, per (account,
address) in pairs of their own and per address, and also per account from every address
(throttling.py, domain.ThrottlePolicy); a code is accepted once, a recovery code too."""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Callable

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from shared.messaging.outbox import Outbox

from . import domain
from .domain import (AlreadyEnrolled, NotEnrolled, OwnSecondFactor, PasskeyRequired,
                     SecondFactorRefused, Unknown)
from .keys import KeyRing
from .models import (accounts, memberships, passkeys, recovery_codes, refresh_tokens,
                     schools, second_factor_resets, second_factors, sign_in_failures)

log = logging.getLogger(__name__)


def _sealing_context(account_id: str) -> str:
    return f"totp:{account_id}"  # a sealed key moved to another login does not open


class SecondFactor:
    """Enrolling, confirming and passing the second factor."""
    outbox: Outbox
    keys: KeyRing
    hasher: PasswordHasher
    address_key: bytes
    clock: Callable[[], dt.datetime]
    throttle: domain.ThrottlePolicy

    def enrol_totp(self, session: Session, account_id: str, sign_in: str,
                   passed: bool = False) -> dict:
        """A new TOTP key for the login (replacing one not yet confirmed), with its QR code
        and otpauth URI; the key is shown only here. AlreadyEnrolled once confirmed;
        PasskeyRequired for a login with a passkey unless this sign-in `passed` a second
        factor within 15 minutes (neither the password alone nor an old sign-in's refresh
        token, maybe stolen, may enrol a factor beside the passkey). InvalidGrant once the
        sign-in `sign_in` has ended."""
        self._lock_account(session, account_id)
        self.going_sign_in(session, account_id, sign_in)
        email = session.execute(sa.select(accounts.c.email).where(
            accounts.c.id == account_id)).scalar()
        if email is None:
            raise Unknown("no such account")
        if self._factor(session, account_id, confirmed=True) is not None:
            raise AlreadyEnrolled()
        if not passed and self._has_passkey(session, account_id, staff_grade=True):
            raise PasskeyRequired()
        key = domain.new_totp_key()
        session.execute(second_factors.delete().where(
            second_factors.c.account_id == account_id))
        session.execute(second_factors.insert().values(
            account_id=account_id, created_at=self.clock(),
            sealed_totp_key=self.keys.secret.seal(key.encode(), _sealing_context(account_id))))
        uri = domain.totp_uri(key, email)
        return {"key": key, "uri": uri, "qr_svg": domain.qr_svg(uri)}

    def confirm_totp(self, session: Session, account_id: str, family_id: str, role: str,
                     code: str, address: str, passed: bool = False) -> dict:
        """The first code confirms the key: ten recovery codes (shown only here) and a
        token of this sign-in that passed the factor. As enrol_totp, PasskeyRequired for a
        login with a passkey from a sign-in by the password alone. InvalidGrant, and no
        code checked, once the sign-in `family_id` has ended (_passed)."""
        self._lock_account(session, account_id)
        self.going_sign_in(session, account_id, family_id)
        row = self._factor(session, account_id, confirmed=False)
        if row is None:
            raise (AlreadyEnrolled() if self._factor(session, account_id, confirmed=True)
                   else NotEnrolled())
        if not passed and self._has_passkey(session, account_id, staff_grade=True):
            raise PasskeyRequired()
        step = self._attempt(session, account_id, address,
                             lambda: self._code_step(account_id, row, code))
        now = self.clock()
        session.execute(second_factors.update().where(
            second_factors.c.account_id == account_id).values(confirmed_at=now,
                                                             last_step=step))
        codes = self._new_recovery_codes(session, account_id, now)
        log.info("second factor enrolled account_id=%s", account_id)
        self.second_factor_changed(session, account_id, "added", "totp")
        return {**self._passed(session, account_id, family_id, role),
                "recovery_codes": codes}

    # --- the owner's own changes (signed in, with a fresh second factor: step-up) --------
    # Each asks first whether the owner's sign-in goes on (going_sign_in): its access token
    # verifies for seconds after a sign-out and minutes past the sign-in's end, in which a
    # thief must not take the owner's app or recovery codes.
    def start_totp_replacement(self, session: Session, account_id: str, sign_in: str) -> dict:
        """A new key for the owner's authenticator app, awaiting a code of it: the key in
        use keeps working until then. Asked again: another new key. 409
        second_factor_not_enrolled when there is no confirmed key to replace."""
        self._lock_account(session, account_id)
        self.going_sign_in(session, account_id, sign_in)
        email = session.execute(sa.select(accounts.c.email).where(
            accounts.c.id == account_id)).scalar()
        if email is None:
            raise Unknown("no such account")
        if self._factor(session, account_id, confirmed=True) is None:
            raise NotEnrolled()
        key = domain.new_totp_key()
        session.execute(second_factors.update().where(
            second_factors.c.account_id == account_id).values(
            pending_sealed_totp_key=self.keys.secret.seal(key.encode(),
                                                          _sealing_context(account_id)),
            pending_created_at=self.clock()))
        uri = domain.totp_uri(key, email)
        return {"key": key, "uri": uri, "qr_svg": domain.qr_svg(uri)}

    def confirm_totp_replacement(self, session: Session, account_id: str, sign_in: str,
                                 code: str, address: str) -> dict:
        """A code of the new key replaces the old key, and the recovery codes with ten new
        ones (shown only now). Wrong codes are limited as at sign-in. 409
        second_factor_not_enrolled when no replacement was started."""
        self._lock_account(session, account_id)
        self.going_sign_in(session, account_id, sign_in)
        row = self._factor(session, account_id, confirmed=True)
        if row is None or row.pending_sealed_totp_key is None:
            raise NotEnrolled("Start replacing the authenticator app first.")
        pending = row.pending_sealed_totp_key

        def check():
            key = self.keys.secret.unseal(pending, _sealing_context(account_id))
            return domain.totp_step(key.decode(), code, self.clock(), None)
        step = self._attempt(session, account_id, address, check)
        now = self.clock()
        session.execute(second_factors.update().where(
            second_factors.c.account_id == account_id).values(
            sealed_totp_key=pending, created_at=now, confirmed_at=now, last_step=step,
            pending_sealed_totp_key=None, pending_created_at=None))
        codes = self._new_recovery_codes(session, account_id, now)
        log.info("second factor replaced account_id=%s", account_id)
        self.second_factor_changed(session, account_id, "replaced", "totp")
        return {"recovery_codes": codes}

    def regenerate_recovery_codes(self, session: Session, account_id: str,
                                  sign_in: str) -> dict:
        """Ten new recovery codes (shown only now); the earlier ones stop working."""
        self._lock_account(session, account_id)
        self.going_sign_in(session, account_id, sign_in)
        if self._factor(session, account_id, confirmed=True) is None:
            raise NotEnrolled()
        codes = self._new_recovery_codes(session, account_id, self.clock())
        log.info("recovery codes regenerated account_id=%s", account_id)
        self.second_factor_changed(session, account_id, "replaced", "recovery_codes")
        return {"recovery_codes": codes}

    # --- recovery by someone else ----------------------------------------------------------
    def reset_second_factor(self, session: Session, actor_id: str, actor_sign_in: str,
                            actor_role: str, actor_schools, account_id: str,
                            school_id: str | None = None) -> dict:
        """Another admin of the school (for its school admins) or an operator (for school
        admins and other operators) removes a login's second factor: its key, pending
        keys, recovery codes and passkeys go, every sign-in of it ends, and its next sign-in enrols
        again. Recorded in second_factor_resets; the person is mailed. Nobody resets their
        own (409: replace it while signed in instead); anyone else: 404, as a missing
        login is answered. InvalidGrant once the actor's sign-in `actor_sign_in` has
        ended."""
        if account_id == actor_id:
            raise OwnSecondFactor()
        # Both logins locked in one order (two admins resetting each other wait, never
        # deadlock): the actor's to ask whether its sign-in goes on, the person's to reset.
        for locked in sorted((actor_id, account_id)):
            self._lock_account(session, locked)
        self.going_sign_in(session, actor_id, actor_sign_in)
        where = self._reset_scope(session, actor_role, actor_schools, account_id, school_id)
        had_app = session.execute(sa.select(second_factors.c.account_id).where(
            second_factors.c.account_id == account_id)).first() is not None
        if not had_app and not self._has_passkey(session, account_id):
            raise NotEnrolled("This login has no second factor to reset.")
        now = self.clock()
        # Its passkeys go too (for staff a passkey is both factors): a reset starts over,
        # and takes with it anything a thief may have added.
        for table in (second_factors, recovery_codes, passkeys):
            session.execute(table.delete().where(table.c.account_id == account_id))
        session.execute(refresh_tokens.update().where(
            refresh_tokens.c.account_id == account_id,
            refresh_tokens.c.revoked_at.is_(None)).values(revoked_at=now))
        self._revoke(session, account_id, "second_factor_reset")
        reset_id = str(uuid.uuid4())
        session.execute(second_factor_resets.insert().values(
            id=reset_id, account_id=account_id, school_id=where, actor_id=actor_id,
            actor_role=actor_role, at=now))
        log.info("second factor reset account_id=%s by actor_id=%s role=%s", account_id,
                 actor_id, actor_role)
        # The mail names what went: the app (and with it any passkeys), else the passkeys.
        self.second_factor_changed(session, account_id, "reset",
                                   "totp" if had_app else "passkey", by_role=actor_role)
        return {"id": reset_id, "account_id": account_id, "school_id": where,
                "actor_id": actor_id, "actor_role": actor_role, "at": now}

    def _reset_scope(self, session: Session, actor_role: str, actor_schools,
                     account_id: str, school_id: str | None) -> str | None:
        """The school the reset is recorded at (None: an operator's login), after checking
        the caller may reset this login; NotFound (Unknown) otherwise."""
        admin_at = set(session.execute(sa.select(memberships.c.school_id).where(
            memberships.c.account_id == account_id, memberships.c.role == "school_admin",
            memberships.c.status == domain.MembershipStatus.ACCEPTED)).scalars())
        operator_login = session.execute(sa.select(accounts.c.kind).where(
            accounts.c.id == account_id)).scalar() == domain.AccountKind.OPERATOR
        if actor_role == "operator" and operator_login:
            return None
        # A school admin: the schools they share with the person, never an operator's
        # login (even one that is also an admin there). An operator: any of theirs.
        may = (set() if operator_login else admin_at & set(actor_schools)
               ) if actor_role == "school_admin" else admin_at
        where = sorted(s for s in may if school_id is None or s == school_id)
        if not where:  # also a parent's or student's login: no factor of theirs to reset
            raise Unknown("no such account")
        return where[0]

    def second_factor_resets(self, session: Session, school_id: str | None) -> list[dict]:
        """The resets recorded at a school (None: of operators' logins), newest first."""
        if school_id is not None:
            self._known_school(session, school_id)
        r = second_factor_resets
        where = r.c.school_id.is_(None) if school_id is None else r.c.school_id == school_id
        rows = session.execute(sa.select(r).where(where).order_by(r.c.at.desc(), r.c.id)
                               .limit(200)).all()
        return [{"id": row.id, "account_id": row.account_id, "school_id": row.school_id,
                 "actor_id": row.actor_id, "actor_role": row.actor_role, "at": row.at}
                for row in rows]

    def school_admin_factors(self, session: Session, school_id: str) -> list[dict]:
        """The school's admins who accepted, each with whether they have a second factor
        (never the key nor the codes) and how many passkeys, by name."""
        self._known_school(session, school_id)
        m = memberships
        return self._factors_of(session, m.c.account_id, m.c.name, m.join(
            accounts, accounts.c.id == m.c.account_id),
            m.c.school_id == school_id, m.c.role == "school_admin",
            m.c.status == domain.MembershipStatus.ACCEPTED)

    def operator_factors(self, session: Session) -> list[dict]:
        """Every operator's login, as school_admin_factors: who may need a reset."""
        return self._factors_of(session, accounts.c.id, accounts.c.name, accounts,
                                accounts.c.kind == domain.AccountKind.OPERATOR,
                                accounts.c.status == domain.AccountStatus.ACTIVE)

    def _factors_of(self, session: Session, account_id, name, joined, *where) -> list[dict]:
        """Of the logins `where` picks (from `joined`, with accounts in it), by name: the
        state of the authenticator app and the number of passkeys that count for staff
        (both factors: `staff_grade`, as a staff sign-in counts them). One added while
        the login was only a parent's signs in as its parent alone: shown as a second
        factor, the admins would take a planted passkey for one."""
        f, p = second_factors, passkeys
        count = (sa.select(sa.func.count()).select_from(p)
                 .where(p.c.account_id == account_id, p.c.staff_grade.is_(True))
                 .scalar_subquery())
        rows = session.execute(
            sa.select(account_id.label("account_id"), name.label("name"), accounts.c.email,
                      f.c.confirmed_at, f.c.created_at, count.label("passkeys"))
            .select_from(joined.outerjoin(f, f.c.account_id == account_id))
            .where(*where).order_by(name, account_id)).all()
        return [{"account_id": r.account_id, "name": r.name or r.email, "email": r.email,
                 "second_factor": ("enrolled" if r.confirmed_at is not None
                                   else "pending" if r.created_at is not None else "none"),
                 "enrolled_at": r.confirmed_at, "passkeys": r.passkeys} for r in rows]

    def second_factor_changed(self, session: Session, account_id: str, kind: str,
                              factor: str, by_role: str | None = None) -> None:
        """The hook every change of a login's factors calls (TOTP, recovery codes,
        passkeys): SecondFactorChanged, so notifications mails the person. `kind`: added,
        replaced, removed or reset; `factor`: totp, recovery_codes or passkey."""
        account = session.execute(sa.select(accounts).where(
            accounts.c.id == account_id)).first()
        if account is None:
            return
        self.outbox.add(session, "SecondFactorChanged", {
            "account_id": account_id, "name": self._greeting_name(session, account),
            "email": account.email, "kind": kind, "factor": factor, "by_role": by_role,
            "at": self.clock()}, school_id=None)

    def pass_second_factor(self, session: Session, account_id: str, family_id: str,
                           role: str, address: str, code: str | None = None,
                           recovery_code: str | None = None) -> dict:
        """A code of the login's confirmed TOTP key, or one of its unused recovery codes:
        a token of this sign-in that passed the factor. InvalidGrant, and no code checked
        nor used, once the sign-in `family_id` has ended (_passed)."""
        self._lock_account(session, account_id)
        self.going_sign_in(session, account_id, family_id)
        row = self._factor(session, account_id, confirmed=True)
        if row is None:
            raise NotEnrolled()
        if code is not None:
            step = self._attempt(session, account_id, address,
                                 lambda: self._code_step(account_id, row, code))
            session.execute(second_factors.update().where(
                second_factors.c.account_id == account_id).values(last_step=step))
        else:
            used = self._attempt(session, account_id, address,
                                 lambda: self._recovery_code(session, account_id,
                                                             recovery_code or ""))
            session.execute(recovery_codes.update().where(recovery_codes.c.id == used)
                            .values(used_at=self.clock()))
            log.info("recovery code used account_id=%s", account_id)
        return self._passed(session, account_id, family_id, role)

    def second_factor_state(self, session: Session, account_id: str, role: str,
                            otp_at: dt.datetime | None) -> str | None:
        """What a token answer tells the client of the second factor: None for roles that
        need none; else passed, required (an app enrolled), passkey (only a passkey: sign
        in with it; no app may be enrolled from this sign-in) or enrol."""
        if role not in domain.SECOND_FACTOR_ROLES:
            return None
        if otp_at is not None:
            return "passed"
        if self._factor(session, account_id, confirmed=True) is not None:
            return "required"
        # Only a passkey: the password alone is not enough, and must not enrol an app.
        # Only one counting for staff: one planted while the login was a parent's does not.
        return ("passkey" if self._has_passkey(session, account_id, staff_grade=True)
                else "enrol")

    # --- parts ------------------------------------------------------------------------------
    def _known_school(self, session: Session, school_id: str) -> None:
        if session.execute(sa.select(schools.c.id).where(
                schools.c.id == school_id)).first() is None:
            raise Unknown("no such school")

    def _new_recovery_codes(self, session: Session, account_id: str,
                            now: dt.datetime) -> list[str]:
        codes = domain.new_recovery_codes()
        session.execute(recovery_codes.delete().where(
            recovery_codes.c.account_id == account_id))
        session.execute(recovery_codes.insert(), [
            {"id": str(uuid.uuid4()), "account_id": account_id, "created_at": now,
             "code_hash": self.hasher.hash(c)} for c in codes])
        return codes

    def _has_passkey(self, session: Session, account_id: str,
                     staff_grade: bool = False) -> bool:
        """Any passkey; with `staff_grade`, one that counts as both factors for staff."""
        query = sa.select(passkeys.c.id).where(passkeys.c.account_id == account_id)
        if staff_grade:
            query = query.where(passkeys.c.staff_grade.is_(True))
        return session.execute(query.limit(1)).first() is not None

    def _factor(self, session: Session, account_id: str, confirmed: bool):
        done = (second_factors.c.confirmed_at.is_not(None) if confirmed
                else second_factors.c.confirmed_at.is_(None))
        return session.execute(sa.select(second_factors).where(
            second_factors.c.account_id == account_id, done)).first()

    def _code_step(self, account_id: str, row, code: str) -> int | None:
        key = self.keys.secret.unseal(row.sealed_totp_key, _sealing_context(account_id))
        return domain.totp_step(key.decode(), code, self.clock(), row.last_step)

    def _recovery_code(self, session: Session, account_id: str, code: str) -> str | None:
        """The id of the unused recovery code this is, else None."""
        code = domain.normalise_recovery_code(code)
        rows = session.execute(sa.select(recovery_codes.c.id, recovery_codes.c.code_hash)
                               .where(recovery_codes.c.account_id == account_id,
                                      recovery_codes.c.used_at.is_(None))).all()
        found = None
        for row in rows:  # all checked: the timing does not tell which one matched
            if domain.verify_password(self.hasher, row.code_hash, code):
                found = row.id
        return found

    def _attempt(self, session: Session, account_id: str, address: str, check):
        """`check()` under the sign-in limits: refused unchecked while this address is over
        its budget, or while the account's codes are locked from this address (a pair of
        the second factor's own, which a password's success does not clear) or from every
        address (too many wrong codes on the account). A failure counts against all three.
        Returns what `check` found (SecondFactorRefused when nothing)."""
        now = self.clock()
        address_hash = domain.address_digest(self.address_key, address)
        self._check_address(session, address_hash, now)
        pair_hash = domain.factor_address_digest(self.address_key, address)
        counts = (sign_in_failures.c.account_id == account_id,
                  sign_in_failures.c.address_hash.in_([pair_hash,
                                                       domain.FACTOR_ACCOUNT_WIDE]))
        # The callers hold the account's row lock: attempts on one account are serial.
        locks = session.execute(sa.select(sign_in_failures.c.locked_until)
                                .where(*counts)).scalars().all()
        if any(until is not None and until > now for until in locks):
            raise SecondFactorRefused()
        found = check()
        if found is None:
            failures = self._pair_failed(session, account_id, pair_hash, now)
            self._pair_failed(session, account_id, domain.FACTOR_ACCOUNT_WIDE, now,
                              lock_for=self.throttle.factor_account_lock)
            self._address_failed(session, address_hash, now)
            log.info("second factor check failed account_id=%s failures_from_address=%d",
                     account_id, failures)
            raise SecondFactorRefused()
        session.execute(sign_in_failures.delete().where(*counts))
        return found

    def _passed(self, session: Session, account_id: str, family_id: str, role: str) -> dict:
        """The sign-in passed the factor now: its refresh tokens will say so, and here is
        an access token that does. The callers asked first that the sign-in goes on
        (going_sign_in, under the login's lock): the access token of an ended one verifies
        for a few seconds more, and one issued now would not be named by the revocation
        (tokens issued before it), nor end, passed again before it expires."""
        now = self.clock()
        session.execute(refresh_tokens.update().where(
            refresh_tokens.c.family_id == family_id,
            refresh_tokens.c.account_id == account_id).values(otp_at=now))
        account = session.execute(sa.select(accounts).where(
            accounts.c.id == account_id)).first()
        access, lifetime = self._access(session, account_id, family_id, role, now)
        return {"access_token": access, "token_type": "Bearer", "expires_in": lifetime,
                "role": role, "roles": self.roles(session, account),
                "second_factor": "passed"}
