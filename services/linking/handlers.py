"""The events the linking service acts on, each routed to its handler.

Rights events (and SchoolOffboarded) are answered by the shared participant
(personal_data.py). A late event about an erased subject changes nothing. A school's
roster (students' names and dates of birth, contacts' lists of children) is gathered: each
batch's events of one type are applied with a few statements.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.messaging.consumer import Event, Route, route
from shared.rights import GUARDIAN, STUDENT, RightsParticipant
from shared.service import ServiceContext

from .service import Linking

if TYPE_CHECKING:
    from .bootstrap import UseCases

D = TypeVar("D", bound=ev.EventData)
Events = Sequence[Event[D]]  # a handler's events, of one type


class Handlers:
    def __init__(self, linking: Linking, participant: RightsParticipant):
        self.linking = linking
        self.participant = participant

    def routes(self) -> list[Route]:
        return [route(ev.StudentRecorded, self.on_student_recorded, gathered=True),
                route(ev.StudentBirthDateRecorded, self.on_student_birth_date_recorded,
                      gathered=True),
                route(ev.StudentRemoved, self.on_student_removed),
                route(ev.GuardianStudentsRecorded, self.on_guardian_students_recorded,
                      gathered=True),
                route(ev.GuardianRemoved, self.on_guardian_removed),
                route(ev.AccountActivated, self.on_account_activated)]

    def on_student_recorded(self, session: Session, events: Events[ev.StudentRecorded]) -> None:
        kept = self.participant.not_erased(session, STUDENT, events)
        if kept:
            self.linking.record_students(session, [(e.school, e.data) for e in kept])

    def on_student_birth_date_recorded(self, session: Session,
                                       events: Events[ev.StudentBirthDateRecorded]) -> None:
        kept = self.participant.not_erased(session, STUDENT, events)
        if kept:
            self.linking.record_birth_dates(session, [(e.school, e.data) for e in kept])

    def on_student_removed(self, session: Session, events: Events[ev.StudentRemoved]) -> None:
        for e in self.participant.not_erased(session, STUDENT, events):
            self.linking.remove_student(session, e.school, e.data)

    def on_guardian_students_recorded(self, session: Session,
                                      events: Events[ev.GuardianStudentsRecorded]) -> None:
        kept = self.participant.not_erased(session, GUARDIAN, events)
        if kept:
            self.linking.record_guardian_students(session, [(e.school, e.data) for e in kept])

    def on_guardian_removed(self, session: Session, events: Events[ev.GuardianRemoved]) -> None:
        for e in self.participant.not_erased(session, GUARDIAN, events):
            self.linking.remove_guardian(session, e.school, e.data)

    def on_account_activated(self, session: Session, events: Events[ev.AccountActivated]) -> None:
        for e in events:
            self.linking.attach_account(session, e.data, e.school_id)


def build_routes(ctx: ServiceContext) -> list[Route]:
    uses: UseCases = ctx.use_cases
    assert ctx.participant is not None
    return Handlers(uses.linking, ctx.participant).routes()
