"""The events the dsar service acts on, each routed to its handler: every service's answer,
identity's SchoolOffboarded (offboarding tracked like an erasure) and SchoolActivated (the
school's default language, for an export's summary)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.messaging.consumer import Event, Route, route
from shared.service import ServiceContext

from .fanout import ServiceAnswer
from .service import Dsar

if TYPE_CHECKING:
    from .bootstrap import UseCases

D = TypeVar("D", bound=ev.EventData)
Events = Sequence[Event[D]]  # a handler's events, of one type


class Handlers:
    def __init__(self, dsar: Dsar):
        self.dsar = dsar

    def routes(self) -> list[Route]:
        return [route(ev.ErasureCompleted, self.on_answer),
                route(ev.SubjectDataExported, self.on_answer),
                route(ev.RestrictionApplied, self.on_answer),
                route(ev.ObjectionApplied, self.on_answer),
                route(ev.OffboardingCompleted, self.on_answer),
                route(ev.SchoolOffboarded, self.on_school_offboarded),
                route(ev.SchoolActivated, self.on_school_activated),
                route(ev.SubjectIdResolved, self.on_subject_id_resolved),
                route(ev.StudentRemoved, self.on_student_removed),
                route(ev.AccountActivated, self.on_account_activated),
                route(ev.ParentVerified, self.on_parent_verified),
                route(ev.LinkRevoked, self.on_link_revoked),
                route(ev.LinkLocked, self.on_link_locked)]

    def on_answer(self, session: Session, events: Events[ServiceAnswer]) -> None:
        """ErasureCompleted, SubjectDataExported, RestrictionApplied, ObjectionApplied and
        OffboardingCompleted: one service's part of a request."""
        for e in events:
            self.dsar.on_answer(session, e.envelope, e.data)

    def on_school_offboarded(self, session: Session, events: Events[ev.SchoolOffboarded]) -> None:
        for e in events:
            self.dsar.on_school_offboarded(session, e.envelope, e.data)

    def on_school_activated(self, session: Session, events: Events[ev.SchoolActivated]) -> None:
        for e in events:
            self.dsar.record_school_language(session, e.data.school_id,
                                             e.data.default_language)

    def on_subject_id_resolved(self, session: Session,
                               events: Events[ev.SubjectIdResolved]) -> None:
        for e in events:
            self.dsar.on_subject_id_resolved(session, e.envelope, e.data)

    def on_student_removed(self, session: Session, events: Events[ev.StudentRemoved]) -> None:
        for e in events:
            self.dsar.on_student_removed(session, e.envelope, e.data)

    def on_account_activated(self, session: Session, events: Events[ev.AccountActivated]) -> None:
        for e in events:
            self.dsar.on_account_activated(session, e.envelope, e.data)

    def on_parent_verified(self, session: Session, events: Events[ev.ParentVerified]) -> None:
        for e in events:
            self.dsar.on_link(session, e.envelope, e.data, True)

    def on_link_revoked(self, session: Session, events: Events[ev.LinkRevoked]) -> None:
        for e in events:
            self.dsar.on_link(session, e.envelope, e.data, False)

    def on_link_locked(self, session: Session, events: Events[ev.LinkLocked]) -> None:
        for e in events:
            self.dsar.on_link(session, e.envelope, e.data, False)


def build_routes(ctx: ServiceContext) -> list[Route]:
    uses: UseCases = ctx.use_cases
    return Handlers(uses.dsar).routes()
