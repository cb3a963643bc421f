"""The link rules, free of Flask and databases: who may try, how many times, and what a
date-of-birth answer does to a link."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from shared.errors import Conflict, DomainError, Locked

MAX_WRONG_ANSWERS = 3


class LinkStatus(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    LOCKED = "locked"
    REVOKED = "revoked"


class RevokedBy(StrEnum):
    """Why a revoked link is revoked."""
    SCHOOL = "school"  # an admin; only an admin undoes it
    DATA = "data"      # the school's records stopped asking for it; asking again reopens it


# The rules below read best unqualified; taken by name, as a reordered class cannot swap them.
PENDING, VERIFIED, LOCKED, REVOKED = (
    LinkStatus.PENDING, LinkStatus.VERIFIED, LinkStatus.LOCKED, LinkStatus.REVOKED)


class LinkError(DomainError):
    """A link that cannot take an answer now; the class says the answer."""


class NotReady(LinkError, Conflict):
    code = "not_ready"
    answer = ("Waiting for the school to send this child's date of birth: the link can "
              "be confirmed once the school has sent it.")


class LinkLocked(LinkError, Locked):
    code = "link_locked"
    answer = "This link is locked after 3 wrong answers; the school can unlock it."


class Restricted(LinkError, Locked):
    code = "processing_restricted"
    answer = "The school has restricted the processing of this data for now."


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
        raise NotReady()
    if given == expected:
        return Answer(VERIFIED, failed_attempts, "ParentVerified", True)
    failed = failed_attempts + 1
    if failed >= MAX_WRONG_ANSWERS:
        return Answer(LOCKED, failed, "LinkLocked", False)
    return Answer(PENDING, failed, None, False)
