"""The events the dsar service acts on, each routed to its handler: every service's answer,
and identity's SchoolOffboarded (offboarding tracked like an erasure)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from shared.messaging.consumer import Event, Route, route
from shared.service import ServiceContext

from . import domain
from .service import Dsar

if TYPE_CHECKING:
    from .bootstrap import UseCases

Events = list[Event[Any]]


class Handlers:
    def __init__(self, dsar: Dsar):
        self.dsar = dsar

    def routes(self) -> list[Route]:
        return [*(route(answer, self.on_answer) for answer in sorted(domain.ANSWERS)),
                route("SchoolOffboarded", self.on_school_offboarded),
                route("SubjectIdResolved", self.on_subject_id_resolved),
                route("StudentRemoved", self.on_student_removed),
                route("AccountActivated", self.on_account_activated),
                route("ParentVerified", self.on_parent_verified),
                route("LinkRevoked", self.on_link_revoked),
                route("LinkLocked", self.on_link_locked)]

    def on_answer(self, session: Session, events: Events) -> None:
        """ErasureCompleted, SubjectDataExported, RestrictionApplied, ObjectionApplied and
        OffboardingCompleted: one service's part of a request."""
        for e in events:
            self.dsar.on_answer(session, e.envelope, e.data)

    def on_school_offboarded(self, session: Session, events: Events) -> None:
        for e in events:
            self.dsar.on_school_offboarded(session, e.envelope, e.data)

    def on_subject_id_resolved(self, session: Session, events: Events) -> None:
        for e in events:
            self.dsar.on_subject_id_resolved(session, e.envelope, e.data)

    def on_student_removed(self, session: Session, events: Events) -> None:
        for e in events:
            self.dsar.on_student_removed(session, e.envelope, e.data)

    def on_account_activated(self, session: Session, events: Events) -> None:
        for e in events:
            self.dsar.on_account_activated(session, e.envelope, e.data)

    def on_parent_verified(self, session: Session, events: Events) -> None:
        for e in events:
            self.dsar.on_link(session, e.envelope, e.data, True)

    def on_link_revoked(self, session: Session, events: Events) -> None:
        for e in events:
            self.dsar.on_link(session, e.envelope, e.data, False)

    def on_link_locked(self, session: Session, events: Events) -> None:
        for e in events:
            self.dsar.on_link(session, e.envelope, e.data, False)


def build_routes(ctx: ServiceContext) -> list[Route]:
    uses: UseCases = ctx.use_cases
    return Handlers(uses.dsar).routes()
