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

from . import domain
from .domain import AlreadyEnrolled, NotEnrolled, SecondFactorRefused, Unknown
from .keys import KeyRing
from .models import (accounts, recovery_codes, refresh_tokens, second_factors,
                     sign_in_failures)

log = logging.getLogger(__name__)


def _sealing_context(account_id: str) -> str:
    return f"totp:{account_id}"  # a sealed key moved to another login does not open


class SecondFactor:
    """Enrolling, confirming and passing the second factor."""
    keys: KeyRing
    hasher: PasswordHasher
    address_key: bytes
    clock: Callable[[], dt.datetime]
    throttle: domain.ThrottlePolicy

    def enrol_totp(self, session: Session, account_id: str) -> dict:
        """A new TOTP key for the login (replacing one not yet confirmed), with its QR code
        and otpauth URI; the key is shown only here. AlreadyEnrolled once confirmed."""
        self._lock_account(session, account_id)
        email = session.execute(sa.select(accounts.c.email).where(
            accounts.c.id == account_id)).scalar()
        if email is None:
            raise Unknown("no such account")
        if self._factor(session, account_id, confirmed=True) is not None:
            raise AlreadyEnrolled()
        key = domain.new_totp_key()
        session.execute(second_factors.delete().where(
            second_factors.c.account_id == account_id))
        session.execute(second_factors.insert().values(
            account_id=account_id, created_at=self.clock(),
            sealed_totp_key=self.keys.secret.seal(key.encode(), _sealing_context(account_id))))
        uri = domain.totp_uri(key, email)
        return {"key": key, "uri": uri, "qr_svg": domain.qr_svg(uri)}

    def confirm_totp(self, session: Session, account_id: str, family_id: str, role: str,
                     code: str, address: str) -> dict:
        """The first code confirms the key: ten recovery codes (shown only here) and a
        token of this sign-in that passed the factor."""
        self._lock_account(session, account_id)
        row = self._factor(session, account_id, confirmed=False)
        if row is None:
            raise (AlreadyEnrolled() if self._factor(session, account_id, confirmed=True)
                   else NotEnrolled())
        step = self._attempt(session, account_id, address,
                             lambda: self._code_step(account_id, row, code))
        now = self.clock()
        session.execute(second_factors.update().where(
            second_factors.c.account_id == account_id).values(confirmed_at=now,
                                                             last_step=step))
        codes = domain.new_recovery_codes()
        session.execute(recovery_codes.delete().where(
            recovery_codes.c.account_id == account_id))
        session.execute(recovery_codes.insert(), [
            {"id": str(uuid.uuid4()), "account_id": account_id, "created_at": now,
             "code_hash": self.hasher.hash(c)} for c in codes])
        log.info("second factor enrolled account_id=%s", account_id)
        return {**self._passed(session, account_id, family_id, role),
                "recovery_codes": codes}

    def pass_second_factor(self, session: Session, account_id: str, family_id: str,
                           role: str, address: str, code: str | None = None,
                           recovery_code: str | None = None) -> dict:
        """A code of the login's confirmed TOTP key, or one of its unused recovery codes:
        a token of this sign-in that passed the factor."""
        self._lock_account(session, account_id)
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
        need none; else passed, required (enrolled) or enrol."""
        if role not in domain.SECOND_FACTOR_ROLES:
            return None
        if otp_at is not None:
            return "passed"
        return ("required" if self._factor(session, account_id, confirmed=True) is not None
                else "enrol")

    # --- parts ------------------------------------------------------------------------------
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
        an access token that does."""
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
