"""The events the notifications service acts on, each routed to its handler.

Rights events (and SchoolOffboarded) are answered by the shared participant
(personal_data.py). A late event about an erased subject changes nothing. A school's
roster (its contacts, the invitations identity sends them) is gathered: each batch's events
of one type are applied with a few statements.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.messaging.consumer import Event, Route, route
from shared.rights import GUARDIAN, STUDENT, RightsParticipant
from shared.rights.subjects import AboutLink
from shared.service import ServiceContext

from . import languages, released, witness
from .service import Notifications

if TYPE_CHECKING:
    from .bootstrap import UseCases

D = TypeVar("D", bound=ev.EventData)
L = TypeVar("L", bound=AboutLink)  # a link event's data
Events = Sequence[Event[D]]  # a handler's events, of one type


class Handlers:
    def __init__(self, notifications: Notifications, participant: RightsParticipant):
        self.notifications = notifications
        self.participant = participant

    def routes(self) -> list[Route]:
        return [route(ev.GuardianRecorded, self.on_guardian_recorded, gathered=True),
                route(ev.StudentRecorded, self.on_student_recorded, gathered=True),
                route(ev.GuardianRemoved, self.on_guardian_removed),
                route(ev.StudentRemoved, self.on_student_removed),
                route(ev.AccountActivated, self.on_account_activated),
                route(ev.InvitationIssued, self.on_invitation_issued, gathered=True),
                route(ev.PasswordResetRequested, self.on_password_reset_requested),
                route(ev.SecondFactorChanged, self.on_second_factor_changed),
                route(ev.ParentVerified, self.on_parent_verified),
                route(ev.LinkRevoked, self.on_link_revoked),
                route(ev.LinkLocked, self.on_link_locked),
                route(ev.ReportPublished, self.on_report_published),
                route(ev.ReportCorrected, self.on_report_corrected),
                route(ev.ReportWithdrawn, self.on_report_withdrawn),
                route(ev.SchoolActivated, self.on_school_activated),
                route(ev.LanguageChosen, self.on_language_chosen),
                route(ev.SubjectRequestClosed, self.on_subject_request_closed),
                route(ev.ExportReleased, self.on_export_released),
                route(ev.AuditCheckpointed, self.on_audit_checkpointed)]

    def _linked(self, session: Session, events: Sequence[Event[L]]) -> list[Event[L]]:
        """The link events whose guardian and student were not erased."""
        kept = self.participant.not_erased(session, GUARDIAN, events)
        return self.participant.not_erased(session, STUDENT, kept)

    def on_guardian_recorded(self, session: Session, events: Events[ev.GuardianRecorded]) -> None:
        kept = self.participant.not_erased(session, GUARDIAN, events)
        if kept:
            self.notifications.record_guardians(session, [(e.school, e.data) for e in kept])

    def on_student_recorded(self, session: Session, events: Events[ev.StudentRecorded]) -> None:
        kept = self.participant.not_erased(session, STUDENT, events)
        if kept:
            released.record_student_names(session, [(e.school, e.data) for e in kept])

    def on_guardian_removed(self, session: Session, events: Events[ev.GuardianRemoved]) -> None:
        for e in self.participant.not_erased(session, GUARDIAN, events):
            self.notifications.remove_guardian(session, e.school, e.data)

    def on_student_removed(self, session: Session, events: Events[ev.StudentRemoved]) -> None:
        for e in self.participant.not_erased(session, STUDENT, events):
            self.notifications.remove_student(session, e.school, e.data)
            released.forget_student_name(session, e.school, e.data.student_id,
                                         e.data.record_version)

    def on_account_activated(self, session: Session, events: Events[ev.AccountActivated]) -> None:
        for e in events:
            self.notifications.attach_account(session, e.data, e.school_id)

    def on_invitation_issued(self, session: Session, events: Events[ev.InvitationIssued]) -> None:
        self.notifications.on_invitations(session, [(e.envelope, e.data) for e in events])

    def on_password_reset_requested(self, session: Session,
                                    events: Events[ev.PasswordResetRequested]) -> None:
        for e in events:
            self.notifications.on_password_reset(session, e.envelope, e.data)

    def on_second_factor_changed(self, session: Session,
                                 events: Events[ev.SecondFactorChanged]) -> None:
        for e in events:
            self.notifications.on_second_factor_changed(session, e.envelope, e.data)

    def on_parent_verified(self, session: Session, events: Events[ev.ParentVerified]) -> None:
        for e in self._linked(session, events):
            self.notifications.link_changed(session, e.school, e.data, True)

    def on_link_revoked(self, session: Session, events: Events[ev.LinkRevoked]) -> None:
        for e in self._linked(session, events):
            self.notifications.link_changed(session, e.school, e.data, False)

    def on_link_locked(self, session: Session, events: Events[ev.LinkLocked]) -> None:
        linked = {e.id for e in self._linked(session, events)}
        for e in events:
            if e.id in linked:
                self.notifications.link_changed(session, e.school, e.data, False)
            self.notifications.on_link_locked(session, e.envelope, e.data)

    def on_report_published(self, session: Session, events: Events[ev.ReportPublished]) -> None:
        for e in self.participant.not_erased(session, STUDENT, events):
            self.notifications.on_report_published(session, e.envelope, e.data)

    def on_report_corrected(self, session: Session, events: Events[ev.ReportCorrected]) -> None:
        for e in self.participant.not_erased(session, STUDENT, events):
            self.notifications.on_report_corrected(session, e.envelope, e.data)

    def on_report_withdrawn(self, session: Session, events: Events[ev.ReportWithdrawn]) -> None:
        for e in events:
            self.notifications.on_report_withdrawn(session, e.envelope, e.data)

    def on_school_activated(self, session: Session, events: Events[ev.SchoolActivated]) -> None:
        for e in events:
            self.notifications.record_school(session, e.data)

    def on_language_chosen(self, session: Session, events: Events[ev.LanguageChosen]) -> None:
        for e in events:  # issue 29: every email to the login from now on is in it
            languages.record(session, e.data.account_id, e.data.language)

    def on_subject_request_closed(self, session: Session,
                                  events: Events[ev.SubjectRequestClosed]) -> None:
        for e in events:  # issue 30: the requester's mail, the office's certificate
            self.notifications.on_request_closed(session, e.envelope, e.data)

    def on_export_released(self, session: Session, events: Events[ev.ExportReleased]) -> None:
        for e in events:  # issue 24: the requester may download their copy in the app
            released.on_export_released(self.notifications, session, e.envelope, e.data)

    def on_audit_checkpointed(self, session: Session,
                              events: Events[ev.AuditCheckpointed]) -> None:
        for e in events:  # issue 30: dsar's audit chain witnessed outside its database
            witness.witness_checkpoint(session, e.data, self.notifications.clock())


def build_routes(ctx: ServiceContext) -> list[Route]:
    uses: UseCases = ctx.use_cases
    assert ctx.participant is not None
    return Handlers(uses.notifications, ctx.participant).routes()
