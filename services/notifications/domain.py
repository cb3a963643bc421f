"""Notification rules and states, free of Flask, SQLAlchemy sessions and kombu."""
from __future__ import annotations

from enum import StrEnum


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"    # given up after the attempts
    SKIPPED = "skipped"  # not to be sent: no address, objected to, over the cap, erased
    # Written before the address was erased, sent once dsar announces the request's
    # completion (SubjectRequestClosed): a parent's own erasure, a school's offboarding.
    HELD = "held"
