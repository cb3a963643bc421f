"""The events the reports service acts on, each routed to its handler.

Rights events (and SchoolOffboarded) are answered by the shared participant
(personal_data.py). A late event about an erased subject changes nothing. The bulk of a
term (attainment, characteristics, results) is gathered: each batch's events of one type
are applied with a few statements, and so is its roster (students, staff, classes).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.messaging.consumer import Event, Route, route
from shared.rights import GUARDIAN, STAFF, STUDENT, RightsParticipant
from shared.rights.subjects import AboutLink, AboutStudent
from shared.service import ServiceContext

from .service import Reports

if TYPE_CHECKING:
    from .bootstrap import UseCases

D = TypeVar("D", bound=ev.EventData)
S = TypeVar("S", bound=AboutStudent)  # data naming a student
L = TypeVar("L", bound=AboutLink)  # a link event's data
Events = Sequence[Event[D]]  # a handler's events, of one type


class Handlers:
    def __init__(self, reports: Reports, participant: RightsParticipant):
        self.reports = reports
        self.participant = participant

    def routes(self) -> list[Route]:
        return [route(ev.StudentRecorded, self.on_student_recorded,
                      gathered=True),
                route(ev.StudentPlacementRecorded, self.on_student_placement_recorded,
                      gathered=True),
                route(ev.StudentRemoved, self.on_student_removed),
                route(ev.StaffRecorded, self.on_staff_recorded,
                      gathered=True),
                route(ev.StaffRemoved, self.on_staff_removed),
                route(ev.ClassRecorded, self.on_class_recorded,
                      gathered=True),
                route(ev.ClassRemoved, self.on_class_removed),
                route(ev.AttainmentRecorded, self.on_attainment_recorded, gathered=True),
                route(ev.CharacteristicRecorded, self.on_characteristic_recorded,
                      gathered=True),
                route(ev.ResultsRecorded, self.on_results_recorded, gathered=True),
                route(ev.ParentVerified, self.on_parent_verified),
                route(ev.LinkRevoked, self.on_link_revoked),
                route(ev.LinkLocked, self.on_link_locked),
                route(ev.AccountActivated, self.on_account_activated)]

    def _students(self, session: Session, events: Sequence[Event[S]]) -> list[Event[S]]:
        return self.participant.not_erased(session, STUDENT, events)

    def _linked(self, session: Session, events: Sequence[Event[L]]) -> list[Event[L]]:
        """The link events whose student and guardian were not erased."""
        kept = self._students(session, events)
        return self.participant.not_erased(session, GUARDIAN, kept)

    def on_student_recorded(self, session: Session, events: Events[ev.StudentRecorded]) -> None:
        kept = self._students(session, events)
        if kept:
            self.reports.record_students(session, [(e.school, e.data) for e in kept])

    def on_student_placement_recorded(self, session: Session,
                                      events: Events[ev.StudentPlacementRecorded]) -> None:
        kept = self._students(session, events)
        if kept:
            self.reports.record_placements(session, [(e.school, e.data) for e in kept])

    def on_student_removed(self, session: Session, events: Events[ev.StudentRemoved]) -> None:
        for e in self._students(session, events):
            self.reports.remove_student(session, e.school, e.data)

    def on_staff_recorded(self, session: Session, events: Events[ev.StaffRecorded]) -> None:
        kept = self.participant.not_erased(session, STAFF, events)
        if kept:
            self.reports.record_staff(session, [(e.school, e.data) for e in kept])

    def on_staff_removed(self, session: Session, events: Events[ev.StaffRemoved]) -> None:
        for e in self.participant.not_erased(session, STAFF, events):
            self.reports.remove_staff(session, e.school, e.data)

    def on_class_recorded(self, session: Session, events: Events[ev.ClassRecorded]) -> None:
        if events:
            self.reports.record_classes(session, [(e.school, e.data) for e in events])

    def on_class_removed(self, session: Session, events: Events[ev.ClassRemoved]) -> None:
        for e in events:
            self.reports.remove_class(session, e.school, e.data)

    def on_attainment_recorded(self, session: Session,
                               events: Events[ev.AttainmentRecorded]) -> None:
        kept = self._students(session, events)
        if kept:
            self.reports.record_attainments(session, [(e.school, e.data) for e in kept])

    def on_characteristic_recorded(self, session: Session,
                                   events: Events[ev.CharacteristicRecorded]) -> None:
        kept = self._students(session, events)
        if kept:
            self.reports.record_characteristics(session,
                                                [(e.school, e.data) for e in kept])

    def on_results_recorded(self, session: Session, events: Events[ev.ResultsRecorded]) -> None:
        kept = self._students(session, events)
        if kept:
            self.reports.record_results(session, [(e.school, e.data) for e in kept])

    def on_parent_verified(self, session: Session, events: Events[ev.ParentVerified]) -> None:
        for e in self._linked(session, events):
            self.reports.link_changed(session, e.school, e.data, True)

    def on_link_revoked(self, session: Session, events: Events[ev.LinkRevoked]) -> None:
        for e in self._linked(session, events):
            self.reports.link_changed(session, e.school, e.data, False)

    def on_link_locked(self, session: Session, events: Events[ev.LinkLocked]) -> None:
        for e in self._linked(session, events):
            self.reports.link_changed(session, e.school, e.data, False)

    def on_account_activated(self, session: Session, events: Events[ev.AccountActivated]) -> None:
        for e in events:
            self.reports.student_account(session, e.data, e.school_id)


def build_routes(ctx: ServiceContext) -> list[Route]:
    uses: UseCases = ctx.use_cases
    assert ctx.participant is not None
    return Handlers(uses.reports, ctx.participant).routes()
