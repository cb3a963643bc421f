"""Whom an event's data is about, read by attribute: a subject type and its typed accessor.

`participant.not_erased(session, STUDENT, events)` keeps the events whose student was not
erased; a type checker sees that every event passed names a `student_id` (the key is
contravariant in the data it reads: STUDENT reads any data with a `student_id`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

D = TypeVar("D", contravariant=True)


class AboutStudent(Protocol):
    @property
    def student_id(self) -> str: ...


class AboutGuardian(Protocol):
    @property
    def guardian_id(self) -> str: ...


class AboutLink(AboutStudent, AboutGuardian, Protocol):
    """Data naming a guardian and a student (a link's events)."""


class AboutStaff(Protocol):
    @property
    def staff_id(self) -> str: ...


@dataclass(frozen=True)
class SubjectKey(Generic[D]):
    """A subject type (student, guardian, staff) and how an event's data names one."""
    type: str
    id_of: Callable[[D], str | None]

    @property
    def field(self) -> str:
        """The data's field naming the subject (for logs and errors: `student_id`)."""
        return f"{self.type}_id"


def _student(data: AboutStudent) -> str:
    return data.student_id


def _guardian(data: AboutGuardian) -> str:
    return data.guardian_id


def _staff(data: AboutStaff) -> str:
    return data.staff_id


STUDENT: SubjectKey[AboutStudent] = SubjectKey("student", _student)
GUARDIAN: SubjectKey[AboutGuardian] = SubjectKey("guardian", _guardian)
STAFF: SubjectKey[AboutStaff] = SubjectKey("staff", _staff)
