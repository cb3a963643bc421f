"""Reports' projections of a school's roster: students (names, placements), staff and
classes (a part of Reports, service.py).

Each use case takes a batch's events of one type, as the consumer gathers them ((school,
data), in order), and leaves what applying them one by one would leave, with a few
statements for the whole set: one code path for a single event and for a school's roster.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.db import among, insert_many, latest_versions, upsert_versioned_many
from shared.removals import Removals
from shared.rights import RightsParticipant

from .models import class_teachers, classes, enrolments, staff, students



class HasRecordVersion(Protocol):
    @property
    def record_version(self) -> int: ...


D = TypeVar("D", bound=HasRecordVersion)
Items = Sequence[tuple[str, D]]  # (school, the event's data), in order


class Item(NamedTuple, Generic[D]):
    """One record's item of a batch: its school and the event's data."""
    school_id: str
    data: D


S = TypeVar("S", ev.StudentRecorded, ev.StudentPlacementRecorded)
Classes = dict[str, Item[ev.ClassRecorded]]
Members = Callable[[ev.ClassRecorded], list[str]]


def latest(items: Items[D], key: Callable[[D], str]) -> dict[str, Item[D]]:
    """Each record's latest item (shared.db.latest_versions' rule), keyed by `key`."""
    return latest_versions((Item(school_id, data) for school_id, data in items),
                           lambda item: key(item.data), lambda item: item.data.record_version)


class RosterProjections:
    participant: RightsParticipant
    removals: Removals

    def record_students(self, session: Session, items: Items[ev.StudentRecorded]) -> None:
        """StudentRecorded: the students' names."""
        self._students(session, items, "name_version", lambda data: {
            "name": f"{data.given_name} {data.family_name}"})

    def record_placements(self, session: Session,
                          items: Items[ev.StudentPlacementRecorded]) -> None:
        """StudentPlacementRecorded: the students' form and year groups."""
        self._students(session, items, "placement_version", lambda data: {
            "form_group": data.form_group, "year_group": data.year_group})

    def _students(self, session: Session, items: Items[S], version_column: str,
                  values: Callable[[S], dict[str, Any]]) -> None:
        """Some columns of the students' rows, upserted by their version, except where
        the school removed the student and the event is not newer than the removal."""
        wanted = self._not_removed(session, "student", latest(items, lambda d: d.student_id))
        upsert_versioned_many(session, students, "student_id", [
            {"student_id": student_id, "school_id": school_id, **values(data),
             version_column: data.record_version}
            for student_id, (school_id, data) in wanted.items()], version_column)

    def _not_removed(self, session: Session, record_type: str,
                     wanted: dict[str, Item[D]]) -> dict[str, Item[D]]:
        stale = self.removals.stale_among(
            session, record_type, {i: data.record_version for i, (_, data) in wanted.items()})
        return {i: item for i, item in sorted(wanted.items()) if i not in stale}

    def record_staff(self, session: Session, items: Items[ev.StaffRecorded]) -> None:
        """StaffRecorded: the names classes show for their teachers."""
        wanted = self._not_removed(session, "staff", latest(items, lambda d: d.staff_id))
        upsert_versioned_many(session, staff, "staff_id", [
            {"staff_id": staff_id, "school_id": school_id,
             "name": " ".join(part for part in (data.title, data.given_name,
                                                data.family_name) if part),
             "record_version": data.record_version}
            for staff_id, (school_id, data) in wanted.items()])

    def record_classes(self, session: Session, items: Items[ev.ClassRecorded]) -> None:
        """ClassRecorded: each class, its teachers and pupils written over (without those
        erased at the school, nor pupils it removed), unless older than the one kept."""
        wanted = self._not_removed(session, "class", latest(items, lambda d: d.class_id))
        kept = dict(session.execute(sa.select(classes.c.class_id, classes.c.record_version)
                                    .where(among(classes.c.class_id, list(wanted)))
                                    .with_for_update()).all())
        applied = {i: item for i, item in wanted.items()
                   if kept.get(i, -1) <= item.data.record_version}
        if not applied:
            return
        upsert_versioned_many(session, classes, "class_id", [
            {"class_id": class_id, "school_id": school_id, "name": data.name,
             "subject": data.subject, "record_version": data.record_version}
            for class_id, (school_id, data) in applied.items()])
        for table in (class_teachers, enrolments):
            session.execute(table.delete().where(among(table.c.class_id, list(applied))))
        self._members(session, applied, _teachers, "staff", class_teachers, "staff_id")
        self._members(session, applied, _pupils, "student", enrolments, "student_id")

    def _members(self, session: Session, applied: Classes, key: Members, subject_type: str,
                 table: sa.Table, column: str) -> None:
        """The classes' teachers or pupils, each once, without those erased at the school
        (nor, of pupils, those the school removed)."""
        gone = self._gone(session, applied, key, subject_type)
        rows = [{"class_id": class_id, column: member, "school_id": school_id}
                for class_id, (school_id, data) in applied.items()
                for member in dict.fromkeys(key(data)) if (school_id, member) not in gone]
        insert_many(session, table, rows)

    def _gone(self, session: Session, applied: Classes, key: Members,
              subject_type: str) -> set[tuple[str, str]]:
        """(school, id) of the members listed that were erased at the school (or, pupils,
        removed by it)."""
        by_school: dict[str, set[str]] = {}
        for school_id, data in applied.values():
            by_school.setdefault(school_id, set()).update(key(data))
        gone = {(school_id, i) for school_id, ids in by_school.items()
                for i in self.participant.erased_among(session, subject_type, ids, school_id)}
        if subject_type == "student":
            removed = self.removals.removed_among(
                session, "student", {i for ids in by_school.values() for i in ids})
            gone |= {(school_id, i) for school_id, ids in by_school.items()
                     for i in ids & removed}
        return gone


def _teachers(data: ev.ClassRecorded) -> list[str]:
    return data.teacher_ids


def _pupils(data: ev.ClassRecorded) -> list[str]:
    return data.student_ids
