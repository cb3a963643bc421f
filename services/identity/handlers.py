"""The events the identity service acts on, each routed to its handler.

Rights events (and SchoolOffboarded) are answered by IdentityParticipant (personal_data.py).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.messaging.consumer import Event, PermanentError, Route, route
from shared.messaging.outbox import Outbox
from shared.rights import RightsParticipant
from shared.service import ServiceContext

from . import domain
from .service import Identity

if TYPE_CHECKING:
    from .bootstrap import UseCases

D = TypeVar("D", bound=ev.EventData)
E = TypeVar("E", bound=Event[Any])
Events = Sequence[Event[D]]  # a handler's events, of one type


class Handlers:
    def __init__(self, identity: Identity, participant: RightsParticipant, outbox: Outbox):
        self.identity = identity
        self.participant = participant
        self.outbox = outbox

    def routes(self) -> list[Route]:
        return [route(ev.GuardianRecorded, self.on_guardian_recorded),
                route(ev.GuardianRemoved, self.on_guardian_removed),
                route(ev.StudentRecorded, self.on_student_recorded),
                route(ev.StudentAccountRequested, self.on_student_account_requested),
                route(ev.StudentRemoved, self.on_student_removed),
                route(ev.SubjectIdRequested, self.on_subject_id_requested)]

    def _school_data(self, session: Session, subject_type: str, key: str,
                     events: Sequence[E]) -> list[E]:
        """The school-data events to apply: not about an erased subject (a late event
        never brings erased data back), nor of an offboarded school (a straggler is
        dropped, not kept)."""
        return [e for e in self.participant.not_erased(session, subject_type, key, events)
                if not self.identity.school_offboarded(session, e.school_id)]

    @contextmanager
    def _permanent(self, event: Event[Any], key: str) -> Iterator[None]:
        """An unknown or inactive school, or data identity refuses, never succeeds."""
        try:
            yield
        except domain.Unknown:
            raise PermanentError(f"school {event.school_id} is not active") from None
        except domain.IdentityError as exc:
            raise PermanentError(f"{type(exc).__name__} for {key} {event.data[key]}") \
                from None

    def on_guardian_recorded(self, session: Session, events: Events[ev.GuardianRecorded]) -> None:
        for e in self._school_data(session, "guardian", "guardian_id", events):
            with self._permanent(e, "guardian_id"):
                self.identity.record_guardian(session, e.school, e.data)

    def on_guardian_removed(self, session: Session, events: Events[ev.GuardianRemoved]) -> None:
        for e in self._school_data(session, "guardian", "guardian_id", events):
            with self._permanent(e, "guardian_id"):
                self.identity.remove_record(session, e.school, "guardian",
                                            e.data.guardian_id, e.data.record_version)

    def on_student_recorded(self, session: Session, events: Events[ev.StudentRecorded]) -> None:
        for e in self._school_data(session, "student", "student_id", events):
            with self._permanent(e, "student_id"):
                self.identity.record_student(session, e.school, e.data)

    def on_student_account_requested(self, session: Session,
                                     events: Events[ev.StudentAccountRequested]) -> None:
        for e in self._school_data(session, "student", "student_id", events):
            with self._permanent(e, "student_id"):
                self.identity.request_student_account(session, e.school, e.data)

    def on_student_removed(self, session: Session, events: Events[ev.StudentRemoved]) -> None:
        for e in self._school_data(session, "student", "student_id", events):
            with self._permanent(e, "student_id"):
                self.identity.remove_record(session, e.school, "student",
                                            e.data.student_id, e.data.record_version)

    def on_subject_id_requested(self, session: Session,
                                events: Events[ev.SubjectIdRequested]) -> None:
        """A staff subject may be one of the school's invited admins (an account, which
        ingest does not know): say whether it is one of this school's."""
        for e in events:
            if e.data.subject_type != "staff" or not e.data.subject_id:
                continue  # pushed records and source ids are ingest's to resolve
            self.outbox.add(session, "SubjectIdResolved", {
                "request_id": e.data.request_id,
                "subject_id": self.identity.staff_member(session, e.school_id,
                                                         e.data.subject_id)},
                school_id=e.school_id)


def build_routes(ctx: ServiceContext) -> list[Route]:
    uses: UseCases = ctx.use_cases
    assert ctx.participant is not None
    return Handlers(uses.identity, ctx.participant, ctx.outbox).routes()
