"""The link rules, free of Flask and databases: who may try, how many times, and what a
date-of-birth answer does to a link."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

MAX_WRONG_ANSWERS = 3
PENDING, VERIFIED, LOCKED, REVOKED = "pending", "verified", "locked", "revoked"


class LinkError(Exception):
    code = "refused"


class LinkLocked(LinkError):
    code = "link_locked"


class Restricted(LinkError):
    code = "processing_restricted"


@dataclass(frozen=True)
class Answer:
    """What one date-of-birth answer did: the link's new state and the event to publish."""
    status: str
    failed_attempts: int
    event: str | None          # ParentVerified | LinkLocked | None
    correct: bool

    @property
    def attempts_left(self) -> int:
        return max(0, MAX_WRONG_ANSWERS - self.failed_attempts)


def answer(status: str, failed_attempts: int, expected: dt.date | None,
           given: dt.date) -> Answer:
    """A parent's answer on a link. A locked link takes no answer at all (not counted);
    a verified one stays verified. With no date of birth on record yet, no answer can be
    right, so none is counted either."""
    if status == LOCKED:
        raise LinkLocked()
    if status == VERIFIED:
        return Answer(VERIFIED, failed_attempts, None, True)
    if expected is None:
        raise LinkError("not_ready")
    if given == expected:
        return Answer(VERIFIED, failed_attempts, "ParentVerified", True)
    failed = failed_attempts + 1
    if failed >= MAX_WRONG_ANSWERS:
        return Answer(LOCKED, failed, "LinkLocked", False)
    return Answer(PENDING, failed, None, False)
