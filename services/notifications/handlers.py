"""The events the notifications service acts on, each routed to its handler.

Rights events (and SchoolOffboarded) are answered by the shared participant
(personal_data.py). A late event about an erased subject changes nothing.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from shared.messaging.consumer import Event, Route, route
from shared.rights import RightsParticipant
from shared.service import ServiceContext

from .service import Notifications

if TYPE_CHECKING:
    from .bootstrap import UseCases

Events = list[Event[Any]]


class Handlers:
    def __init__(self, notifications: Notifications, participant: RightsParticipant):
        self.notifications = notifications
        self.participant = participant

    def routes(self) -> list[Route]:
        return [route("GuardianRecorded", self.on_guardian_recorded),
                route("GuardianRemoved", self.on_guardian_removed),
                route("StudentRemoved", self.on_student_removed),
                route("AccountActivated", self.on_account_activated),
                route("InvitationIssued", self.on_invitation_issued),
                route("PasswordResetRequested", self.on_password_reset_requested),
                route("ParentVerified", self.on_parent_verified),
                route("LinkRevoked", self.on_link_revoked),
                route("LinkLocked", self.on_link_locked),
                route("ReportPublished", self.on_report_published),
                route("ReportCorrected", self.on_report_corrected),
                route("ReportWithdrawn", self.on_report_withdrawn),
                route("SchoolActivated", self.on_school_activated)]

    def _linked(self, session: Session, events: Events) -> Events:
        """The link events whose guardian and student were not erased."""
        kept = self.participant.not_erased(session, "guardian", "guardian_id", events)
        return self.participant.not_erased(session, "student", "student_id", kept)

    def on_guardian_recorded(self, session: Session, events: Events) -> None:
        for e in self.participant.not_erased(session, "guardian", "guardian_id", events):
            self.notifications.record_guardian(session, e.school_id, e.data)

    def on_guardian_removed(self, session: Session, events: Events) -> None:
        for e in self.participant.not_erased(session, "guardian", "guardian_id", events):
            self.notifications.remove_guardian(session, e.school_id, e.data)

    def on_student_removed(self, session: Session, events: Events) -> None:
        for e in self.participant.not_erased(session, "student", "student_id", events):
            self.notifications.remove_student(session, e.school_id, e.data)

    def on_account_activated(self, session: Session, events: Events) -> None:
        for e in events:
            self.notifications.attach_account(session, e.data, e.school_id)

    def on_invitation_issued(self, session: Session, events: Events) -> None:
        for e in events:
            self.notifications.on_invitation(session, e.envelope, e.data)

    def on_password_reset_requested(self, session: Session, events: Events) -> None:
        for e in events:
            self.notifications.on_password_reset(session, e.envelope, e.data)

    def on_parent_verified(self, session: Session, events: Events) -> None:
        for e in self._linked(session, events):
            self.notifications.link_changed(session, e.school_id, e.data, True)

    def on_link_revoked(self, session: Session, events: Events) -> None:
        for e in self._linked(session, events):
            self.notifications.link_changed(session, e.school_id, e.data, False)

    def on_link_locked(self, session: Session, events: Events) -> None:
        linked = {e.id for e in self._linked(session, events)}
        for e in events:
            if e.id in linked:
                self.notifications.link_changed(session, e.school_id, e.data, False)
            self.notifications.on_link_locked(session, e.envelope, e.data)

    def on_report_published(self, session: Session, events: Events) -> None:
        for e in self.participant.not_erased(session, "student", "student_id", events):
            self.notifications.on_report_published(session, e.envelope, e.data)

    def on_report_corrected(self, session: Session, events: Events) -> None:
        for e in self.participant.not_erased(session, "student", "student_id", events):
            self.notifications.on_report_corrected(session, e.envelope, e.data)

    def on_report_withdrawn(self, session: Session, events: Events) -> None:
        for e in events:
            self.notifications.on_report_withdrawn(session, e.envelope, e.data)

    def on_school_activated(self, session: Session, events: Events) -> None:
        for e in events:
            self.notifications.record_school(session, e.data)


def build_routes(ctx: ServiceContext) -> list[Route]:
    uses: UseCases = ctx.use_cases
    assert ctx.participant is not None
    return Handlers(uses.notifications, ctx.participant).routes()
