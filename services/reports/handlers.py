"""The events the reports service acts on, each routed to its handler.

Rights events (and SchoolOffboarded) are answered by the shared participant
(personal_data.py). A late event about an erased subject changes nothing. The bulk of a
term (attainment, characteristics, results) is gathered: each batch's events of one type
are applied with a few statements.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from shared.messaging.consumer import Event, Route, route
from shared.rights import RightsParticipant
from shared.service import ServiceContext

from .service import Reports

if TYPE_CHECKING:
    from .bootstrap import UseCases

Events = list[Event[Any]]


class Handlers:
    def __init__(self, reports: Reports, participant: RightsParticipant):
        self.reports = reports
        self.participant = participant

    def routes(self) -> list[Route]:
        return [route("StudentRecorded", self.on_student_recorded),
                route("StudentPlacementRecorded", self.on_student_placement_recorded),
                route("StudentRemoved", self.on_student_removed),
                route("StaffRecorded", self.on_staff_recorded),
                route("StaffRemoved", self.on_staff_removed),
                route("ClassRecorded", self.on_class_recorded),
                route("ClassRemoved", self.on_class_removed),
                route("AttainmentRecorded", self.on_attainment_recorded, gathered=True),
                route("CharacteristicRecorded", self.on_characteristic_recorded,
                      gathered=True),
                route("ResultsRecorded", self.on_results_recorded, gathered=True),
                route("ParentVerified", self.on_parent_verified),
                route("LinkRevoked", self.on_link_revoked),
                route("LinkLocked", self.on_link_locked),
                route("AccountActivated", self.on_account_activated)]

    def _students(self, session: Session, events: Events) -> Events:
        return self.participant.not_erased(session, "student", "student_id", events)

    def _linked(self, session: Session, events: Events) -> Events:
        """The link events whose student and guardian were not erased."""
        kept = self._students(session, events)
        return self.participant.not_erased(session, "guardian", "guardian_id", kept)

    def on_student_recorded(self, session: Session, events: Events) -> None:
        for e in self._students(session, events):
            self.reports.record_student(session, e.school_id, e.data)

    def on_student_placement_recorded(self, session: Session, events: Events) -> None:
        for e in self._students(session, events):
            self.reports.record_placement(session, e.school_id, e.data)

    def on_student_removed(self, session: Session, events: Events) -> None:
        for e in self._students(session, events):
            self.reports.remove_student(session, e.school_id, e.data)

    def on_staff_recorded(self, session: Session, events: Events) -> None:
        for e in self.participant.not_erased(session, "staff", "staff_id", events):
            self.reports.record_staff(session, e.school_id, e.data)

    def on_staff_removed(self, session: Session, events: Events) -> None:
        for e in self.participant.not_erased(session, "staff", "staff_id", events):
            self.reports.remove_staff(session, e.school_id, e.data)

    def on_class_recorded(self, session: Session, events: Events) -> None:
        for e in events:
            self.reports.record_class(session, e.school_id, e.data)

    def on_class_removed(self, session: Session, events: Events) -> None:
        for e in events:
            self.reports.remove_class(session, e.school_id, e.data)

    def on_attainment_recorded(self, session: Session, events: Events) -> None:
        kept = self._students(session, events)
        if kept:
            self.reports.record_attainments(session, [(e.school_id, e.data) for e in kept])

    def on_characteristic_recorded(self, session: Session, events: Events) -> None:
        kept = self._students(session, events)
        if kept:
            self.reports.record_characteristics(session,
                                                [(e.school_id, e.data) for e in kept])

    def on_results_recorded(self, session: Session, events: Events) -> None:
        kept = self._students(session, events)
        if kept:
            self.reports.record_results(session, [(e.school_id, e.data) for e in kept])

    def on_parent_verified(self, session: Session, events: Events) -> None:
        for e in self._linked(session, events):
            self.reports.link_changed(session, e.school_id, e.data, True)

    def on_link_revoked(self, session: Session, events: Events) -> None:
        for e in self._linked(session, events):
            self.reports.link_changed(session, e.school_id, e.data, False)

    def on_link_locked(self, session: Session, events: Events) -> None:
        for e in self._linked(session, events):
            self.reports.link_changed(session, e.school_id, e.data, False)

    def on_account_activated(self, session: Session, events: Events) -> None:
        for e in events:
            self.reports.student_account(session, e.data, e.school_id)


def build_routes(ctx: ServiceContext) -> list[Route]:
    uses: UseCases = ctx.use_cases
    assert ctx.participant is not None
    return Handlers(uses.reports, ctx.participant).routes()
