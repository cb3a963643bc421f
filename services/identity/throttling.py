"""Identity's sign-in limits as stored counts: failures per (account, address) pair and
per address (the policy itself: domain.ThrottlePolicy; a part of Identity, service.py)."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from . import domain
from .domain import Throttled
from .models import address_failures, sign_in_failures

log = logging.getLogger(__name__)


class Throttling:
    """Counting failures, and refusing an address over its budget."""
    throttle: domain.ThrottlePolicy

    def _pair_failed(self, session: Session, account_id: str, address_hash: str,
                     now: dt.datetime,
                     lock_for: Callable[[int], dt.timedelta] | None = None) -> int:
        """One more failure for (account, address); locks the pair per the policy
        (`lock_for`, else ThrottlePolicy.pair_lock)."""
        pair = (sign_in_failures.c.account_id == account_id,
                sign_in_failures.c.address_hash == address_hash)
        known = session.execute(sa.select(sign_in_failures.c.failures).where(*pair)).scalar()
        failures = (known or 0) + 1
        lock = (lock_for or self.throttle.pair_lock)(failures)
        values = {"failures": failures, "last_failure_at": now,
                  "locked_until": now + lock if lock else None}
        if known is None:
            session.execute(sign_in_failures.delete().where(  # forgotten pairs go
                sign_in_failures.c.last_failure_at <= now - self.throttle.pair_memory))
            session.execute(sign_in_failures.insert().values(
                account_id=account_id, address_hash=address_hash, **values))
        else:
            session.execute(sign_in_failures.update().where(*pair).values(**values))
        if lock and lock >= self.throttle.pair_max_lock:
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
