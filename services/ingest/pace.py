"""The pace a school's pushes are taken at (issue 27): at most `events_per_second` events
of one school in any `window_seconds`, counted from the batch ledger, so every web process
of ingest judges alike. A push beyond it is refused whole with 429 and Retry-After, before
anything of it is stored: the school system sends the same batch again after the wait, and
nothing accepted is ever lost. A batch arriving when the school's window is empty is always
taken, whatever its size (at most ingest's 5,000 events)."""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.errors import TooManyRequests

from .models import batches


class PushTooFast(TooManyRequests):
    code = "push_rate_exceeded"
    answer = ("This school's pushes are over their pace: send the same batch again after "
              "Retry-After seconds.")


@dataclass(frozen=True)
class PushPace:
    events_per_second: int  # 0: unbounded
    window_seconds: int = 10

    def admit(self, session: Session, school_id: str, count: int, now: dt.datetime) -> None:
        """Refuse (PushTooFast) a push of `count` events the school's window has no room
        for; the caller holds the school's lock, so two pushes are judged one after the
        other."""
        if self.events_per_second <= 0:
            return
        window = dt.timedelta(seconds=self.window_seconds)
        recent = session.execute(
            sa.select(batches.c.received_at, batches.c.events)
            .where(batches.c.school_id == school_id, batches.c.received_at > now - window)
            .order_by(batches.c.received_at)).all()
        budget = self.events_per_second * self.window_seconds
        used = sum(row.events for row in recent)
        if not recent or used + count <= budget:
            return
        for row in recent:  # the oldest leave the window first
            used -= row.events
            if used + count <= budget:
                break
        wait = (row.received_at + window - now).total_seconds()
        raise PushTooFast(max(1, math.ceil(wait)))
