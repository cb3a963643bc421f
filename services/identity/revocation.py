"""Identity's side of token revocation (shared/revocations.py): whenever tokens it issued
must stop before they expire, it publishes TokensRevoked in the transaction that makes the
change, and every service (identity too) refuses them within seconds.

Tokens stop for: a sign-out or a replayed refresh token (that sign-in's tokens, by `sid`),
a password reset (the account's), a login losing a school relation or deleted (erasure,
removal by the school, offboarding: the account's; a refresh then gives a token with the
schools that remain, if any), and a revoked school-system client (the client's).
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.db import among
from shared.messaging.outbox import Outbox
from shared.revocations import revocation_data

from .models import accounts

EVENT = "TokensRevoked"


def lock_accounts(session: Session, account_ids) -> None:
    """Take the accounts' row locks, as sign-in and refresh do while they issue a token:
    a token issued after the revocation's instant then sees the change it follows."""
    ids = sorted(set(account_ids))
    if ids:
        session.execute(sa.select(accounts.c.id).where(among(accounts.c.id, ids))
                        .order_by(accounts.c.id).with_for_update())


def revoke_tokens(session: Session, outbox: Outbox, subject_id: str, *, reason: str,
                  revoked_before: dt.datetime, token_lifetime: int,
                  session_id: str | None = None) -> None:
    outbox.add(session, EVENT, revocation_data(
        subject_id, reason=reason, revoked_before=revoked_before,
        token_lifetime=token_lifetime, session_id=session_id), school_id=None)


def sign_out_accounts(session: Session, outbox: Outbox, account_ids, *,
                      revoked_before: dt.datetime, token_lifetime: int) -> None:
    """The tokens of logins that lost a school relation, or were deleted, stop: a token
    names its schools, and a deleted login has none. Call with the accounts locked
    (lock_accounts) since before the change."""
    for account_id in sorted(set(account_ids)):
        kept = session.execute(sa.select(accounts.c.id).where(
            accounts.c.id == account_id)).first() is not None
        revoke_tokens(session, outbox, account_id,
                      reason="membership_removed" if kept else "account_removed",
                      revoked_before=revoked_before, token_lifetime=token_lifetime)
