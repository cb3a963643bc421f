"""Identity's sign-in and tokens: passwords checked under the throttle, access and
refresh tokens issued, rotated and revoked, client credentials, password resets (a
part of Identity, service.py)."""
from __future__ import annotations

import datetime as dt
import hmac
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Callable, NoReturn

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from shared.db import advisory_lock, among
from shared.messaging.outbox import Outbox

from . import domain
from .domain import (AccountKind, AccountStatus, InvalidClient, InvalidCredentials, InvalidGrant,
                     MembershipStatus, SchoolStatus, TokenUnusable, Unknown)
from .keys import KeyRing
from .passkey_rules import METHOD as PASSKEY, NOT_STAFF_METHOD, PASSKEY_AMR
from .models import (accounts, client_schools, clients, memberships, passkeys,
                     password_resets, refresh_tokens, reset_requests, schools,
                     sign_in_failures)

log = logging.getLogger(__name__)
ACCEPTED = MembershipStatus.ACCEPTED
# Why a refresh was refused, in its 401 invalid_grant's `reason`: the sign-in reached
# its absolute lifetime (PP_SIGN_IN_MAX_DAYS), so the app says so as it signs out.
SIGN_IN_EXPIRED = "sign_in_expired"


@dataclass(frozen=True)
class GoingSignIn:
    """A sign-in that has not ended: its current refresh token (the row) and its end."""
    token: Any
    ends_at: dt.datetime


class SignInAndTokens:
    """What proves who a caller is, and the tokens that say it."""
    outbox: Outbox
    keys: KeyRing
    hasher: PasswordHasher
    refresh_lifetime: dt.timedelta
    sign_in_lifetime: dt.timedelta
    reset_lifetime: dt.timedelta
    address_key: bytes
    clock: Callable[[], dt.datetime]
    password_checks: int

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

    def _tokens(self, session: Session, account, family_id: str, role: str,
                otp_at: dt.datetime | None = None, method: str | None = None,
                passkey_id: str | None = None, ends_at: dt.datetime | None = None) -> dict:
        """A refresh token and an access token for the sign-in `family_id`, which passed
        the second factor at `otp_at` (None: not yet, or not needed) and began with
        `method` (None: the password; "passkey": both factors at once), with the passkey
        `passkey_id` when one began it. The sign-in ends at `ends_at` however often it
        is refreshed (None: a new sign-in, PP_SIGN_IN_MAX_DAYS from now); its refresh
        token expires then at the latest."""
        now = self.clock()
        refresh = domain.new_secret()
        ends_at = ends_at or now + self.sign_in_lifetime
        session.execute(refresh_tokens.insert().values(
            id=str(uuid.uuid4()), account_id=account.id, family_id=family_id, role=role,
            token_hash=domain.hash_secret(refresh), issued_at=now,
            expires_at=min(now + self.refresh_lifetime, ends_at), otp_at=otp_at,
            method=method, passkey_id=passkey_id, sign_in_ends_at=ends_at))
        access, lifetime = self._access(session, account.id, family_id, role, otp_at)
        answer = {"access_token": access, "token_type": "Bearer", "expires_in": lifetime,
                  "refresh_token": refresh, "role": role,
                  "roles": self.roles(session, account)}
        state = self.second_factor_state(session, account.id, role, otp_at)
        if state is not None:
            answer["second_factor"] = state
        return answer

    def _access(self, session: Session, account_id: str, family_id: str, role: str,
                otp_at: dt.datetime | None) -> tuple[str, int]:
        """An access token of the sign-in, saying how it was made (`amr`, RFC 8176: the
        password, and the one-time code when the sign-in passed it, at `otp_at`)."""
        signer = self.keys.signer(session.connection())
        extra: dict[str, Any] = {"sid": family_id, "amr": ["pwd"]}
        if otp_at is not None:
            extra.update(amr=["pwd", "otp"], otp_at=int(otp_at.timestamp()))
        method = session.execute(sa.select(refresh_tokens.c.method).where(
            refresh_tokens.c.family_id == family_id).limit(1)).scalar()
        if method == PASSKEY:
            extra["amr"] = list(PASSKEY_AMR)  # a passkey sign-in: both factors at once
        elif method == NOT_STAFF_METHOD:
            extra = self._not_staff_passkey_claims(session, account_id, family_id, extra)
        access = signer.issue(account_id, role, self.school_ids(session, account_id, role),
                              **extra)
        return access, signer.lifetime

    def _not_staff_passkey_claims(self, session: Session, account_id: str, family_id: str,
                                  extra: dict[str, Any]) -> dict[str, Any]:
        """A sign-in by a passkey that does not count for staff: both factors while the
        login holds no staff role (a parent's own passkey), else the key alone ("hwk", no
        second factor): its parent token must not pass for a fresh factor that would add
        a passkey counting as the admin's both factors."""
        account = session.execute(sa.select(accounts).where(
            accounts.c.id == account_id)).first()
        if any(r in domain.SECOND_FACTOR_ROLES for r in self.roles(session, account)):
            return {"sid": family_id, "amr": ["hwk"]}
        return {**extra, "amr": list(PASSKEY_AMR)}

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
        if row is None:  # gone while this waited for the lock (its login erased)
            raise InvalidGrant("unknown refresh token")
        if row.rotated_at is not None or row.revoked_at is not None:
            self._sign_out_reused_family(session, row, now)
        # Neither rotated nor revoked: the token is its sign-in's current one.
        ends_at = self.going_sign_in(session, row.account_id, row.family_id).ends_at
        account, acting = self._still_allowed(session, row, role)
        session.execute(refresh_tokens.update().where(refresh_tokens.c.id == row.id)
                        .values(rotated_at=now))
        return self._tokens(session, account, row.family_id, acting, row.otp_at,
                            row.method, row.passkey_id, ends_at)

    def going_sign_in(self, session: Session, account_id: str,
                      sign_in: str | None) -> GoingSignIn:
        """The login's sign-in `sign_in` (a refresh-token family, the tokens' `sid`) while
        it goes on; InvalidGrant once it has ended. Every use of a sign-in asks here:
        refreshing it, passing its second factor, adding or removing a passkey with it.
        Ended: its tokens revoked (signed out, a replayed refresh token, a password or
        second-factor reset, the removal of the passkey that began it); its end come
        (PP_SIGN_IN_MAX_DAYS after it began: reason sign_in_expired, the app says why);
        its refresh token unused past PP_REFRESH_TOKEN_DAYS (nothing can refresh it); no
        sign-in of this login at all. Its access tokens verify for a few seconds more
        (until the revocation arrives) or minutes (until they expire): within them, a
        thief must get nothing new. Call with the login's row locked (_lock_account), so a
        refresh or sign-out holding it has finished."""
        current = None if sign_in is None else session.execute(
            sa.select(refresh_tokens).where(
                refresh_tokens.c.account_id == account_id,
                refresh_tokens.c.family_id == sign_in,
                refresh_tokens.c.rotated_at.is_(None),
                refresh_tokens.c.revoked_at.is_(None)).limit(1)).first()
        if current is None:
            raise InvalidGrant("the sign-in has ended")
        now = self.clock()
        ends_at = current.sign_in_ends_at or self._legacy_sign_in_end(session,
                                                                      current.family_id)
        if ends_at <= now:
            # The sign-in's absolute lifetime: the person signs in again, and is told why.
            raise InvalidGrant("sign-in expired", reason=SIGN_IN_EXPIRED)
        if current.expires_at <= now:
            raise InvalidGrant("refresh token expired")
        return GoingSignIn(current, ends_at)

    def _legacy_sign_in_end(self, session: Session, family_id: str) -> dt.datetime:
        """The end of a sign-in begun before migration 0020 (no sign_in_ends_at): its
        first token's issue plus PP_SIGN_IN_MAX_DAYS, as for any other (rotated tokens
        are kept), so a refresh token held since then, a thief's too, gets no new 90
        days from its next use."""
        began = session.execute(sa.select(sa.func.min(refresh_tokens.c.issued_at)).where(
            refresh_tokens.c.family_id == family_id)).scalar_one()
        return began + self.sign_in_lifetime

    def _sign_out_reused_family(self, session: Session, row: Any, now: dt.datetime) -> NoReturn:
        """A rotated token used again: stolen or replayed. Revoke the whole family, and the
        access tokens it gave."""
        revoked = session.execute(refresh_tokens.update().where(
            refresh_tokens.c.family_id == row.family_id,
            refresh_tokens.c.revoked_at.is_(None)).values(revoked_at=now)).rowcount
        if revoked:
            self._revoke(session, row.account_id, "refresh_reuse", session_id=row.family_id)
        log.warning("refresh token reuse: family revoked account_id=%s family_id=%s",
                    row.account_id, row.family_id)
        raise InvalidGrant("refresh token reused; signed out everywhere it was used")

    def _still_allowed(self, session: Session, row: Any, role: str | None) -> tuple[Any, str]:
        """The refreshed sign-in's account, still active, and the role it acts in."""
        account = session.execute(sa.select(accounts).where(
            accounts.c.id == row.account_id)).first()
        roles = (roles_of_method(self.roles(session, account), row.method)
                 if account is not None else [])
        if account is None or account.status != AccountStatus.ACTIVE or not roles:
            raise InvalidGrant("account unavailable")
        if role is None and row.role is not None and row.role not in roles:
            raise InvalidGrant("the sign-in's role is no longer held")
        return account, _acting_role(roles, role or row.role)

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
            raise InvalidClient()
        school = session.execute(sa.select(schools.c.status).where(
            schools.c.id == row.school_id)).scalar()
        if school != SchoolStatus.ACTIVE:
            raise InvalidClient()
        granted = session.execute(sa.select(client_schools.c.school_id).join(
            schools, schools.c.id == client_schools.c.school_id).where(
            client_schools.c.client_id == client_id,
            schools.c.status == SchoolStatus.ACTIVE).order_by(client_schools.c.school_id)
        ).scalars().all()
        signer = self.keys.signer(session.connection())
        return {"access_token": signer.issue(client_id, "school_system",
                                             [row.school_id, *granted]),
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
                among(reset_requests.c.id, [row.id for row in rows])))
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

    def reset_password(self, session: Session, token: str, password: str) -> dict:
        """The new password set; every sign-in of the login ends (TokensRevoked), and the
        passkeys that do not count for staff go (docs/decisions.md "A password reset takes
        the passkeys"): how many, in `passkeys_removed`."""
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
        return {"passkeys_removed": self._remove_password_grade_passkeys(
            session, row.account_id)}

    def _remove_password_grade_passkeys(self, session: Session, account_id: str) -> int:
        """A reset is asked for by someone who fears another got in: the passkeys a
        password or a parent's sign-in could add (all but those counting for staff, which
        only a fresh second factor adds, and which stay as the authenticator app stays)
        go, a thief's among them, and the person is mailed."""
        gone = session.execute(passkeys.delete().where(
            passkeys.c.account_id == account_id,
            sa.or_(passkeys.c.staff_grade.is_(False), passkeys.c.staff_grade.is_(None)))
            .returning(passkeys.c.id)).scalars().all()
        if gone:
            log.info("passkeys removed by a password reset account_id=%s count=%d",
                     account_id, len(gone))
            self.second_factor_changed(session, account_id, "removed", "passkey")
        return len(gone)

    def me(self, session: Session, account_id: str, role: str) -> dict:
        if role == "school_system":
            client = session.execute(sa.select(clients).where(
                clients.c.id == account_id, clients.c.revoked_at.is_(None))).first()
            if client is None:
                raise Unknown("no such client")
            return {"id": client.id, "role": role, "roles": [role],
                    "school_ids": [client.school_id], "name": "School system", "email": None,
                    "language": None}
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
              "name": name, "email": account.email, "language": account.language,
              "school_ids": self.school_ids(session, account.id, role)}
        me["schools"] = self.school_contacts(session, me["school_ids"])
        if role == "student":  # the app lists a student's own reports by this id
            me["student_ids"] = sorted({r.student_id for r in accepted if r.student_id})
        return me


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


def roles_of_method(roles: list[str], method: str | None) -> list[str]:
    """The login's roles a sign-in begun with `method` may act in: a passkey that does not
    count for staff (NOT_STAFF_METHOD) signs in to no staff or operator role."""
    if method == NOT_STAFF_METHOD:
        return [r for r in roles if r not in domain.SECOND_FACTOR_ROLES]
    return roles


def _acting_role(roles: list[str], asked: str | None) -> str:
    """The role a token is for: the one asked for, which the login must hold, else its
    default."""
    if asked is None:
        return domain.default_role(roles)
    if asked not in roles:
        raise domain.RoleNotHeld("This login does not hold that role.")
    return asked
