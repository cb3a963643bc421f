"""Event handlers of the dsar service, and their one explicit map: every service's answer,
and identity's SchoolOffboarded (offboarding tracked like an erasure)."""
from __future__ import annotations

from shared.service import ServiceContext

from . import domain
from .api import dsar_of


def build_handlers(ctx: ServiceContext) -> dict:
    dsar = dsar_of(ctx)
    handlers = {answer: dsar.on_answer for answer in sorted(domain.ANSWERS)}
    handlers["SchoolOffboarded"] = dsar.on_school_offboarded
    handlers["SchoolActivated"] = lambda session, envelope, data: None
    handlers["SubjectIdResolved"] = dsar.on_subject_id_resolved
    handlers["StudentRemoved"] = dsar.on_student_removed
    handlers["AccountActivated"] = dsar.on_account_activated
    handlers["ParentVerified"] = lambda s, e, d: dsar.on_link(s, e, d, True)
    handlers["LinkRevoked"] = lambda s, e, d: dsar.on_link(s, e, d, False)
    handlers["LinkLocked"] = lambda s, e, d: dsar.on_link(s, e, d, False)
    return handlers
