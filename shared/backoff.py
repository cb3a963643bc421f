"""The one backoff policy: the first retry waits `base`, each next one twice as long, up
to `cap`. Each user names its own base and cap, as the thing retried dictates (a row the
broker did not take, a lost connection, a mail server that refused)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base: float  # seconds before the first retry
    cap: float  # seconds: never longer than this

    def seconds(self, attempt: int) -> float:
        """The wait before retry number `attempt` (1 for the first)."""
        doublings = min(max(0, attempt - 1), 32)  # beyond 2**32 every cap is reached
        return min(self.cap, self.base * 2.0 ** doublings)

    def delay(self, attempt: int) -> dt.timedelta:
        return dt.timedelta(seconds=self.seconds(attempt))


# A worker that lost its broker or database tries again soon, then less and less often.
RECONNECT = Backoff(base=0.2, cap=10.0)
