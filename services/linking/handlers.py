"""The events the linking service acts on, each routed to its handler.

Rights events (and SchoolOffboarded) are answered by the shared participant
(personal_data.py). A late event about an erased subject changes nothing.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.messaging.consumer import Event, Route, route
from shared.rights import RightsParticipant
from shared.service import ServiceContext

from .service import Linking

if TYPE_CHECKING:
    from .bootstrap import UseCases

D = TypeVar("D", bound=ev.EventData)
E = TypeVar("E", bound=Event[Any])
Events = Sequence[Event[D]]  # a handler's events, of one type


class Handlers:
    def __init__(self, linking: Linking, participant: RightsParticipant):
        self.linking = linking
        self.participant = participant

    def routes(self) -> list[Route]:
        return [route(ev.StudentRecorded, self.on_student_recorded),
                route(ev.StudentBirthDateRecorded, self.on_student_birth_date_recorded),
                route(ev.StudentRemoved, self.on_student_removed),
                route(ev.GuardianStudentsRecorded, self.on_guardian_students_recorded),
                route(ev.GuardianRemoved, self.on_guardian_removed),
                route(ev.AccountActivated, self.on_account_activated)]

    def on_student_recorded(self, session: Session, events: Events[ev.StudentRecorded]) -> None:
        for e in self.participant.not_erased(session, "student", "student_id", events):
            self.linking.record_student(session, e.school, e.data)

    def on_student_birth_date_recorded(self, session: Session,
                                       events: Events[ev.StudentBirthDateRecorded]) -> None:
        for e in self.participant.not_erased(session, "student", "student_id", events):
            self.linking.record_birth_date(session, e.school, e.data)

    def on_student_removed(self, session: Session, events: Events[ev.StudentRemoved]) -> None:
        for e in self.participant.not_erased(session, "student", "student_id", events):
            self.linking.remove_student(session, e.school, e.data)

    def on_guardian_students_recorded(self, session: Session,
                                      events: Events[ev.GuardianStudentsRecorded]) -> None:
        for e in self.participant.not_erased(session, "guardian", "guardian_id", events):
            self.linking.record_guardian_students(session, e.school, e.data)

    def on_guardian_removed(self, session: Session, events: Events[ev.GuardianRemoved]) -> None:
        for e in self.participant.not_erased(session, "guardian", "guardian_id", events):
            self.linking.remove_guardian(session, e.school, e.data)

    def on_account_activated(self, session: Session, events: Events[ev.AccountActivated]) -> None:
        for e in events:
            self.linking.attach_account(session, e.data, e.school_id)


def build_routes(ctx: ServiceContext) -> list[Route]:
    uses: UseCases = ctx.use_cases
    assert ctx.participant is not None
    return Handlers(uses.linking, ctx.participant).routes()
