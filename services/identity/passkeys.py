"""Identity's passkeys (WebAuthn): adding one to a login, listing and removing them, and
signing in with one instead of a password (a part of Identity, service.py; the rules in
passkey_rules.py).

Signing in needs no email: the browser offers the passkeys it holds for this site
(discoverable credentials) and the one chosen names its login. Every challenge is used
once, right or wrong, and expires after five minutes. A passkey sign-in is both factors
(user verification is required): its tokens say `amr` ["hwk", "user", "mfa"] and when
(`otp_at`), so staff reach their console with no TOTP code, and a fresh one passes
step-up. Failed passkey sign-ins count against the client address's budget as wrong
passwords do.

For staff that holds only for a passkey added while the login held a staff or operator
role with a second factor passed within 15 minutes (`passkeys.staff_grade`): one added
while the login was only a parent's (the password alone does that) must not sign in as the
admin the parent is later made. Such a passkey signs in to the login's other roles only
(refresh_tokens.method "passkey_not_staff"), and a password sign-in as staff treats the
login as having no passkey (the app is enrolled or asked for as usual)."""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.db import advisory_lock, among
from shared.errors import StepUpRequired

from . import domain
from . import passkey_rules as rules
from .domain import AccountStatus, Unknown
from .models import accounts, passkey_challenges, passkeys, refresh_tokens
from .sign_in import GoingSignIn, _acting_role, roles_of_method

log = logging.getLogger(__name__)
REGISTER, SIGN_IN = rules.Ceremony.REGISTER, rules.Ceremony.SIGN_IN


class Passkeys:
    """Adding, listing, removing and signing in with passkeys."""
    relying_party: rules.RelyingParty
    clock: Callable[[], dt.datetime]
    address_key: bytes

    # --- adding ---------------------------------------------------------------------------
    def passkey_registration_options(self, session: Session, account_id: str,
                                     password: str | None, address: str,
                                     recent_factor: bool, sign_in: str | None = None) -> dict:
        """A challenge to add a passkey to the login, and the options for the browser's
        navigator.credentials.create(). Who is there is asked again: the login's password
        (checked under the sign-in limits), unless `recent_factor` (the token's sign-in
        passed a second factor within the last 15 minutes). The token's sign-in
        `sign_in` must still go on (InvalidGrant once ended)."""
        self._lock_account(session, account_id)
        going = self.going_sign_in(session, account_id, sign_in)
        account = self._account(session, account_id)
        self._proof_of_presence(session, account, password, address, recent_factor, going)
        email = account.email
        existing = list(session.execute(sa.select(passkeys.c.credential_id).where(
            passkeys.c.account_id == account_id)).scalars())
        if len(existing) >= rules.MAX_PASSKEYS:
            raise rules.TooManyPasskeys()
        challenge_id, challenge = self._new_challenge(session, REGISTER, account_id,
                                                      sign_in=sign_in)
        return {"challenge_id": challenge_id, "options": rules.registration_options(
            self.relying_party, challenge, account_id, email, existing)}

    def _proof_of_presence(self, session: Session, account, password: str | None,
                           address: str, recent_factor: bool, going: GoingSignIn) -> None:
        """What adding or removing a passkey asks of the person: staff, a second factor
        within 15 minutes (StepUpRequired); anyone else, the password (InvalidCredentials
        if wrong) unless `recent_factor` (ReauthenticationRequired)."""
        self._staff_step_up(session, account, recent_factor, going)
        if password:
            self._confirm_password(session, account, password, address)
        elif not recent_factor:
            raise rules.ReauthenticationRequired()

    def _confirm_password(self, session: Session, account, password: str,
                          address: str) -> None:
        """The login's own password, limited as a sign-in's: InvalidCredentials if wrong."""
        now = self.clock()
        address_hash = domain.address_digest(self.address_key, address)
        self._check_address(session, address_hash, now)
        try:
            self._check_own_password(session, account, password, now, address_hash)
        except domain.InvalidCredentials:
            self._address_failed(session, address_hash, now)
            raise

    def register_passkey(self, session: Session, account_id: str, challenge_id: str,
                         name: str, credential: dict, recent_factor: bool = False,
                         sign_in: str | None = None) -> dict:
        """The authenticator's answer to that challenge checked, and the passkey kept
        under the name given. A staff login's, as when beginning: `recent_factor`. The
        passkey that began `sign_in` (the one adding it), if any, is kept as `added_by`:
        removing that one removes this one too. InvalidGrant once `sign_in` has ended:
        its access token still passes for a few seconds, in which a thief whose sign-in
        the removal of the phone's passkey just ended would add one that outlived it."""
        name = rules.passkey_name(name)
        self._lock_account(session, account_id)
        going = self.going_sign_in(session, account_id, sign_in)
        account = self._account(session, account_id)
        self._staff_step_up(session, account, recent_factor, going)
        # Both factors for staff only if added as staff with a fresh second factor: one
        # added while the login is only a parent's (the password alone) never will be.
        staff_grade = recent_factor and any(
            role in domain.SECOND_FACTOR_ROLES for role in self.roles(session, account))
        challenge = self._take_challenge(session, challenge_id, REGISTER, account_id,
                                         rules.PasskeyNotRegistered, sign_in)
        new = rules.verify_registration(self.relying_party, credential, challenge)
        count = session.execute(sa.select(sa.func.count()).select_from(passkeys).where(
            passkeys.c.account_id == account_id)).scalar_one()
        if count >= rules.MAX_PASSKEYS:
            raise rules.TooManyPasskeys()
        taken = session.execute(sa.select(passkeys.c.id).where(
            passkeys.c.credential_id == new.credential_id)).first()
        if taken is not None:
            raise rules.PasskeyNotRegistered()
        row = {"id": str(uuid.uuid4()), "account_id": account_id,
               "credential_id": new.credential_id, "public_key": new.public_key,
               "sign_count": new.sign_count, "name": name, "created_at": self.clock(),
               "last_used_at": None, "staff_grade": staff_grade,
               "added_by": going.token.passkey_id}
        session.execute(passkeys.insert().values(**row))
        log.info("passkey added account_id=%s passkey_id=%s", account_id, row["id"])
        self.second_factor_changed(session, account_id, "added", "passkey")
        return _shown(row)

    # --- listing and removing ---------------------------------------------------------------
    def list_passkeys(self, session: Session, account_id: str) -> list[dict]:
        rows = session.execute(sa.select(passkeys).where(
            passkeys.c.account_id == account_id).order_by(passkeys.c.created_at,
                                                          passkeys.c.id)).all()
        return [_shown(r._asdict()) for r in rows]

    def remove_passkey(self, session: Session, account_id: str, passkey_id: str,
                       password: str | None, address: str,
                       recent_factor: bool = False, sign_in: str | None = None) -> None:
        """The passkey goes, with the passkeys added while signed in with it (and theirs):
        none signs anybody in from now on, and every sign-in they began ends (a lost
        phone's, and a thief's who added a passkey with it before the owner could act),
        the one removing it too: from here a thief holding the phone's sign-in looks like
        its owner, and a sign-in kept past its passkey could be ended by nothing but a
        password reset. Who is there is asked again, as when adding (a token alone, maybe
        a stolen one, must not sign out every device the passkey signed in): the password
        unless `recent_factor`; a staff login's, `recent_factor` (else a passkey-only
        admin's password alone, acting as their parent role, would remove it and enrol an
        app). Then another login's: 404. InvalidGrant once `sign_in` has ended, before
        anything is asked: its access token verifies a few seconds more, in which a thief
        whose sign-in the owner just ended would take the owner's other passkeys with its
        fresh factor."""
        self._lock_account(session, account_id)
        going = self.going_sign_in(session, account_id, sign_in)
        self._proof_of_presence(session, self._account(session, account_id), password,
                                address, recent_factor, going)
        gone = session.execute(passkeys.delete().where(
            passkeys.c.id == passkey_id, passkeys.c.account_id == account_id)).rowcount
        if not gone:
            raise rules.PasskeyUnknown()
        removed = self._added_with(session, account_id, passkey_id)
        session.execute(passkeys.delete().where(
            among(passkeys.c.id, removed[1:]), passkeys.c.account_id == account_id))
        log.info("passkey removed account_id=%s passkey_id=%s with_added=%d", account_id,
                 passkey_id, len(removed) - 1)
        self._end_sign_ins_of(session, account_id, removed)
        self.second_factor_changed(session, account_id, "removed", "passkey")

    def _added_with(self, session: Session, account_id: str, passkey_id: str) -> list[str]:
        """The passkey, the login's passkeys added by sign-ins it began, theirs, and so on."""
        found, newest = [passkey_id], [passkey_id]
        while newest:
            added = session.execute(sa.select(passkeys.c.id).where(
                passkeys.c.account_id == account_id,
                among(passkeys.c.added_by, newest))).scalars().all()
            newest = [p for p in added if p not in found]
            found += newest
        return found

    def _end_sign_ins_of(self, session: Session, account_id: str,
                         passkey_ids: list[str]) -> None:
        """Revoke the refresh tokens of the sign-ins the passkeys began, and their access
        tokens on every service (TokensRevoked by sign-in, as a sign-out)."""
        ended = session.execute(refresh_tokens.update().where(
            refresh_tokens.c.account_id == account_id,
            among(refresh_tokens.c.passkey_id, passkey_ids),
            refresh_tokens.c.revoked_at.is_(None)).values(revoked_at=self.clock())
            .returning(refresh_tokens.c.family_id)).scalars().all()
        for family_id in sorted(set(ended)):
            self._revoke(session, account_id, "passkey_removed", session_id=family_id)
        if ended:
            log.info("sign-ins ended account_id=%s passkey_id=%s count=%d", account_id,
                     passkey_ids[0], len(set(ended)))

    def _account(self, session: Session, account_id: str):
        account = session.execute(sa.select(accounts).where(
            accounts.c.id == account_id)).first()
        if account is None:
            raise Unknown("no such account")
        return account

    def _staff_step_up(self, session: Session, account, recent_factor: bool,
                       going: GoingSignIn) -> None:
        """A login holding a staff or operator role, whatever role the token acts in: for
        it a passkey is both factors, so adding or removing one wants the second factor
        passed within 15 minutes (StepUpRequired). A token acting as the login's parent
        or student role never passed it: the password alone must not plant a passkey
        that signs in as the admin, nor take away the one that guards the admin. Nor
        does the token's sign-in if a passkey not counting for staff began it: its
        access token from before the login was made staff says a fresh factor (a
        parent's own), and would add a passkey counting as the new admin's both."""
        if recent_factor and going.token.method != rules.NOT_STAFF_METHOD:
            return
        if any(role in domain.SECOND_FACTOR_ROLES for role in self.roles(session, account)):
            raise StepUpRequired()

    # --- signing in -------------------------------------------------------------------------
    def passkey_sign_in_options(self, session: Session, address: str) -> dict:
        """A challenge for a sign-in by passkey, and the options for the browser's
        navigator.credentials.get() (no email: the browser offers its passkeys). Throttled
        while this address is over its sign-in budget or holds too many open."""
        now = self.clock()
        address_hash = domain.address_digest(self.address_key, address)
        self._check_address(session, address_hash, now)
        advisory_lock(session, f"identity:passkey-challenges:{address_hash}")
        c = passkey_challenges
        open_ = session.execute(sa.select(sa.func.count(), sa.func.min(c.c.expires_at)).where(
            c.c.address_hash == address_hash, c.c.expires_at > now)).one()
        if open_[0] >= rules.OPEN_SIGN_IN_CHALLENGES:
            raise domain.Throttled(domain.seconds_until(open_[1], now))
        challenge_id, challenge = self._new_challenge(session, SIGN_IN, None, address_hash)
        return {"challenge_id": challenge_id,
                "options": rules.authentication_options(self.relying_party, challenge)}

    def sign_in_with_passkey(self, session: Session, challenge_id: str, credential: dict,
                             address: str, role: str | None = None) -> dict:
        """Tokens for the passkey's login, as a password sign-in gives, but having passed
        both factors. PasskeyRefused (one answer) for anything that does not check out;
        each refusal counts against the address."""
        now = self.clock()
        address_hash = domain.address_digest(self.address_key, address)
        self._check_address(session, address_hash, now)
        try:
            return self._passkey_tokens(session, challenge_id, credential, role, now)
        except rules.PasskeyRefused:
            self._address_failed(session, address_hash, now)
            raise

    def _passkey_tokens(self, session: Session, challenge_id: str, credential: dict,
                        role: str | None, now: dt.datetime) -> dict:
        challenge = self._take_challenge(session, challenge_id, SIGN_IN, None,
                                         rules.PasskeyRefused)
        credential_id = rules.credential_id_of(credential)
        row = session.execute(sa.select(passkeys).where(
            passkeys.c.credential_id == credential_id)).first()
        if row is None:
            raise rules.PasskeyRefused()
        handle = rules.user_handle_of(credential)
        if handle is not None and handle != row.account_id:
            raise rules.PasskeyRefused()
        self._lock_account(session, row.account_id)
        # Read again under the lock: a removal or reset that held it took the passkey, or
        # a sign-in that held it moved its counter on (a clone's answer at once with it).
        row = session.execute(sa.select(passkeys).where(passkeys.c.id == row.id)).first()
        if row is None:
            raise rules.PasskeyRefused()
        account = session.execute(sa.select(accounts).where(
            accounts.c.id == row.account_id)).first()
        # Not both factors for staff unless added as staff: then a parent's or student's.
        method = rules.METHOD if row.staff_grade else rules.NOT_STAFF_METHOD
        roles = (roles_of_method(self.roles(session, account), method)
                 if account is not None and account.status == AccountStatus.ACTIVE else [])
        if not roles:
            raise rules.PasskeyRefused()
        counter = rules.verify_assertion(self.relying_party, credential, challenge,
                                         row.public_key, row.sign_count)
        # The role asked for only once the signature proved whose login it is (else a
        # forged answer would learn the login's roles); RoleNotHeld spends the challenge.
        acting = _acting_role(roles, role)
        session.execute(passkeys.update().where(passkeys.c.id == row.id).values(
            sign_count=counter, last_used_at=now))
        log.info("passkey sign-in account_id=%s passkey_id=%s", row.account_id, row.id)
        return self._tokens(session, account, str(uuid.uuid4()), acting, otp_at=now,
                            method=method, passkey_id=row.id)

    # --- challenges -------------------------------------------------------------------------
    def _new_challenge(self, session: Session, purpose: str, account_id: str | None,
                       address_hash: str | None = None,
                       sign_in: str | None = None) -> tuple[str, bytes]:
        now = self.clock()
        session.execute(passkey_challenges.delete().where(
            passkey_challenges.c.expires_at <= now))
        challenge, challenge_id = rules.new_challenge(), str(uuid.uuid4())
        session.execute(passkey_challenges.insert().values(
            id=challenge_id, purpose=purpose, account_id=account_id,
            address_hash=address_hash, sign_in_id=sign_in,
            challenge=rules.encode_challenge(challenge),
            expires_at=now + rules.CHALLENGE_LIFETIME))
        return challenge_id, challenge

    def _take_challenge(self, session: Session, challenge_id: str, purpose: str,
                        account_id: str | None, refusal: type[Exception],
                        sign_in: str | None = None) -> bytes:
        """The challenge, used up now whatever follows (the caller commits on `refusal`):
        `refusal` if unknown, used, expired, for another purpose, another login or
        another sign-in (adding a passkey: the proof of presence given when beginning
        is that sign-in's, and ends with it)."""
        row = session.execute(sa.select(passkey_challenges).where(
            passkey_challenges.c.id == challenge_id)).first()
        if row is None:
            raise refusal()
        taken = session.execute(passkey_challenges.delete().where(
            passkey_challenges.c.id == challenge_id)).rowcount
        if (not taken or row.purpose != purpose or row.account_id != account_id
                or row.sign_in_id != sign_in or row.expires_at <= self.clock()):
            raise refusal()
        return rules.decode_challenge(row.challenge)


def _shown(row: dict) -> dict:
    """What the owner sees of a passkey: never its key or credential id."""
    return {"id": row["id"], "name": row["name"], "created_at": row["created_at"],
            "last_used_at": row["last_used_at"]}
