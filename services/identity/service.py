"""Identity use cases: each takes the open transaction and writes its events to the outbox
in it. The API and the event handlers call these; the rules live in domain.py.

Identity is one object per process, its use cases in a module per seam: schools and
their clients (schools.py), the guardian and student records they push (roster.py),
logins, memberships and invitations (invitations.py), sign-in and tokens (sign_in.py),
the second factor (second_factor.py), passkeys (passkeys.py) and the sign-in limits
(throttling.py)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from shared.db import utcnow
from shared.erasure_ledger import ErasureLedger
from shared.messaging.outbox import Outbox

from . import domain
from .invitations import AccountsAndInvitations
from .keys import KeyRing
from .languages import Languages
from .models import accounts
from .revocation import revoke_tokens
from .roster import SchoolRecords
from .schools import SchoolsAndClients
from .passkey_rules import RelyingParty
from .passkeys import Passkeys
from .second_factor import SecondFactor
from .sign_in import SignInAndTokens
from .throttling import Throttling


@dataclass
class Identity(SchoolsAndClients, SchoolRecords, AccountsAndInvitations, SignInAndTokens,
               SecondFactor, Passkeys, Throttling, Languages):
    """The identity service's dependencies, wired once per process (bootstrap.py), and
    what every part uses: revoking tokens and locking a login's row."""
    outbox: Outbox
    keys: KeyRing
    hasher: PasswordHasher
    invitation_lifetime: dt.timedelta
    refresh_lifetime: dt.timedelta
    address_key: bytes  # keys the stored hashes of client addresses (secret.py)
    reset_lifetime: dt.timedelta = dt.timedelta(hours=1)
    sign_in_lifetime: dt.timedelta = dt.timedelta(days=90)  # PP_SIGN_IN_MAX_DAYS
    throttle: domain.ThrottlePolicy = domain.ThrottlePolicy()
    clock: Callable[[], dt.datetime] = utcnow
    password_checks: int = 0  # argon2 verifications done (tests, metrics)
    # Every offboarding sent, where a restore does not roll it back (shared/erasure_ledger).
    ledger: ErasureLedger | None = None
    # Passkeys' relying party: RP ID and origins from the settings (passkeys.py).
    relying_party: RelyingParty = RelyingParty()

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
