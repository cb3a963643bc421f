"""Notifications' copy of students' names (services/notifications/released.py): a removal
leaves the row without the name, at the removal's version, so a StudentRecorded older
than the removal arriving after it does not bring the name back; a newer one (the school
added the student back) does (SQLite, no broker)."""
import uuid

import sqlalchemy as sa

from services.notifications import released
from services.notifications.models import student_names
from shared.contracts import typed as ev
from tests.unit.test_notifications_unit import SCHOOL, notifications  # noqa: F401


def _recorded(student: str, version: int) -> tuple[str, ev.StudentRecorded]:
    return SCHOOL, ev.StudentRecorded(record_version=version, student_id=student,
                                      given_name="Alex", family_name="Sample")


def test_a_late_older_record_does_not_bring_a_removed_students_name_back(
        notifications):  # noqa: F811
    rt = notifications[0]
    student = str(uuid.uuid4())

    def held() -> list[tuple[str | None, int]]:
        with rt.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.select(
                student_names.c.name, student_names.c.record_version).where(
                student_names.c.student_id == student))]
    with rt.context.sessions() as session, session.begin():
        released.record_student_names(session, [_recorded(student, 2)])
        released.forget_student_name(session, SCHOOL, student, 3)
    assert held() == [(None, 3)]
    with rt.context.sessions() as session, session.begin():
        released.record_student_names(session, [_recorded(student, 2)])  # late, older
    assert held() == [(None, 3)]
    with rt.context.sessions() as session, session.begin():
        released.record_student_names(session, [_recorded(student, 4)])  # added back
    assert held() == [("Alex Sample", 4)]
