"""Event handlers of the dsar service, and their one explicit map: every service's answer,
and identity's SchoolOffboarded (offboarding tracked like an erasure)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from shared.service import ServiceContext

from . import domain
if TYPE_CHECKING:
    from .bootstrap import UseCases


def build_handlers(ctx: ServiceContext) -> dict:
    uses: UseCases = ctx.use_cases
    dsar = uses.dsar
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
