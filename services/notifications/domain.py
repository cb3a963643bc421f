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


# A privacy notice reads every school's admins and queues their mail: it holds this
# exclusively, an erasure or offboarding here shared (after its school's data lock), so an
# admin erased meanwhile is gone before the read or has the mail taken with them. One key,
# not every school's lock: a national deployment's thousands of schools would fill the
# database's lock table.
SCHOOL_ADMINS_LOCK = "notifications:school-admins"
