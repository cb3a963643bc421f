"""The events the identity service acts on, each routed to its handler.

Rights events (and SchoolOffboarded) are answered by IdentityParticipant (personal_data.py).
A school's roster (guardian and student records) is gathered: each batch's events of one
type are applied a school at a time, with a few statements (an event a school's set cannot
take fails the batch, whose events are then applied one by one: that one is dead-lettered
alone).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.messaging.consumer import Event, PermanentError, Route, route
from shared.messaging.outbox import Outbox
from shared.rights import GUARDIAN, STUDENT, RightsParticipant, SubjectKey
from shared.service import ServiceContext

from . import domain
from .service import Identity

if TYPE_CHECKING:
    from .bootstrap import UseCases

D = TypeVar("D", bound=ev.EventData)
T = TypeVar("T")  # an event's data, of any type
Events = Sequence[Event[D]]  # a handler's events, of one type


class Handlers:
    def __init__(self, identity: Identity, participant: RightsParticipant, outbox: Outbox):
        self.identity = identity
        self.participant = participant
        self.outbox = outbox

    def routes(self) -> list[Route]:
        return [route(ev.GuardianRecorded, self.on_guardian_recorded, gathered=True),
                route(ev.GuardianRemoved, self.on_guardian_removed),
                route(ev.StudentRecorded, self.on_student_recorded, gathered=True),
                route(ev.StudentAccountRequested, self.on_student_account_requested),
                route(ev.StudentRemoved, self.on_student_removed),
                route(ev.SubjectIdRequested, self.on_subject_id_requested)]

    def _school_data(self, session: Session, key: SubjectKey[T],
                     events: Sequence[Event[T]]) -> list[Event[T]]:
        """The school-data events to apply: not about an erased subject (a late event
        never brings erased data back), nor of an offboarded school (a straggler is
        dropped, not kept)."""
        kept = self.participant.not_erased(session, key, events)
        offboarded = {school for school in {e.school_id for e in kept}
                      if self.identity.school_offboarded(session, school)}
        return [e for e in kept if e.school_id not in offboarded]

    def _by_school(self, session: Session, key: SubjectKey[T],
                   events: Sequence[Event[T]]) -> dict[str, list[Event[T]]]:
        """_school_data's events, by school, in order."""
        found: dict[str, list[Event[T]]] = {}
        for e in self._school_data(session, key, events):
            found.setdefault(e.school, []).append(e)
        return found

    @contextmanager
    def _permanent(self, event: Event[T], key: SubjectKey[T]) -> Iterator[None]:
        """An unknown or inactive school, or data identity refuses, never succeeds."""
        try:
            yield
        except domain.Unknown:
            raise PermanentError(f"school {event.school_id} is not active") from None
        except domain.IdentityError as exc:
            raise PermanentError(f"{type(exc).__name__} for {key.field} "
                                 f"{key.id_of(event.data)}") from None

    def on_guardian_recorded(self, session: Session, events: Events[ev.GuardianRecorded]) -> None:
        for school, mine in self._by_school(session, GUARDIAN, events).items():
            with self._permanent(mine[0], GUARDIAN):
                self.identity.record_guardians(session, school, [e.data for e in mine])

    def on_guardian_removed(self, session: Session, events: Events[ev.GuardianRemoved]) -> None:
        for e in self._school_data(session, GUARDIAN, events):
            with self._permanent(e, GUARDIAN):
                self.identity.remove_record(session, e.school, "guardian",
                                            e.data.guardian_id, e.data.record_version)

    def on_student_recorded(self, session: Session, events: Events[ev.StudentRecorded]) -> None:
        for school, mine in self._by_school(session, STUDENT, events).items():
            with self._permanent(mine[0], STUDENT):
                self.identity.record_students(session, school, [e.data for e in mine])

    def on_student_account_requested(self, session: Session,
                                     events: Events[ev.StudentAccountRequested]) -> None:
        for e in self._school_data(session, STUDENT, events):
            with self._permanent(e, STUDENT):
                self.identity.request_student_account(session, e.school, e.data)

    def on_student_removed(self, session: Session, events: Events[ev.StudentRemoved]) -> None:
        for e in self._school_data(session, STUDENT, events):
            with self._permanent(e, STUDENT):
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
