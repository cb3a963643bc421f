"""Deadline arithmetic, with an injected clock (no database for the rules; SQLite for the
pause and the extension)."""
import datetime as dt
import uuid

import pytest

from services.dsar import domain
from services.dsar.app import SPEC
from services.dsar.domain import Refused
from shared.config import Settings
from shared.contracts import typed as ev
from shared.service import ServiceRuntime

UTC = dt.timezone.utc


@pytest.mark.parametrize("received,due", [
    ((2026, 1, 31), (2026, 2, 28)), ((2028, 1, 31), (2028, 2, 29)),
    ((2026, 3, 31), (2026, 4, 30)), ((2026, 12, 15), (2027, 1, 15)),
    ((2026, 5, 1), (2026, 6, 1))])
def test_due_one_calendar_month_after_receipt(received, due):
    got = domain.due_at(dt.datetime(*received, 9, 30, tzinfo=UTC))
    assert got == dt.datetime(*due, 9, 30, tzinfo=UTC)


def test_extension_and_pause_move_the_due_date():
    received = dt.datetime(2026, 1, 31, tzinfo=UTC)
    assert domain.due_at(received, extension_months=2) == dt.datetime(2026, 4, 30, tzinfo=UTC)
    assert domain.due_at(received, paused_for=dt.timedelta(days=3)) == dt.datetime(
        2026, 3, 3, tzinfo=UTC)
    assert domain.days_left(dt.datetime(2026, 2, 28, tzinfo=UTC),
                            dt.datetime(2026, 2, 20, 23, tzinfo=UTC)) == 8


def test_a_request_extended_paused_and_resumed_with_an_injected_clock(tmp_path):
    rt = ServiceRuntime(SPEC, Settings.from_env({"PP_DATA_DIR": str(tmp_path)}))
    rt.start()
    dsar = rt.context.use_cases.dsar
    now = [dt.datetime(2026, 1, 31, 10, tzinfo=UTC)]
    dsar.clock = lambda: now[0]
    school = str(uuid.uuid4())
    with rt.context.sessions() as s, s.begin():
        request = dsar.file(s, school, "rectification", "student", str(uuid.uuid4()), {},
                            str(uuid.uuid4()), "school_admin")
    assert request["due_at"] == dt.datetime(2026, 2, 28, 10, tzinfo=UTC)
    with rt.context.sessions() as s, s.begin():
        extended = dsar.extend(s, request["id"], (school,), "admin", 1, "complex request")
    # From receipt: 31 January + 2 months = 31 March (not 28 February + 1 month).
    assert extended["due_at"] == dt.datetime(2026, 3, 31, 10, tzinfo=UTC)
    with rt.context.sessions() as s, s.begin():
        with pytest.raises(Refused):
            dsar.extend(s, request["id"], (school,), "admin", 2, "too long")
    with rt.context.sessions() as s, s.begin():
        assert dsar.pause(s, request["id"], (school,), "admin", True)["status"] == "paused"
    now[0] += dt.timedelta(days=5)
    with rt.context.sessions() as s, s.begin():
        resumed = dsar.pause(s, request["id"], (school,), "admin", False)
    assert resumed["status"] == "in_progress"
    assert resumed["due_at"] == dt.datetime(2026, 4, 5, 10, tzinfo=UTC)
    now[0] = dt.datetime(2026, 4, 6, tzinfo=UTC)
    with rt.context.sessions() as s, s.begin():
        overdue = dsar.overdue(s, (school,))
    assert [r["id"] for r in overdue] == [request["id"]] and overdue[0]["days_left"] < 0
    rt.engine.dispose()


def test_a_student_removed_by_the_school_is_erased_after_the_retention_period(tmp_path):
    from types import SimpleNamespace

    import sqlalchemy as sa
    rt = ServiceRuntime(SPEC, Settings.from_env({"PP_DATA_DIR": str(tmp_path),
                                                 "PP_REMOVED_STUDENT_RETENTION_DAYS": "30"}))
    rt.start()
    dsar = rt.context.use_cases.dsar
    now = [dt.datetime(2026, 1, 1, tzinfo=UTC)]
    dsar.clock = lambda: now[0]
    school, student_id = str(uuid.uuid4()), str(uuid.uuid4())
    with rt.context.sessions() as s, s.begin():
        dsar.on_student_removed(s, SimpleNamespace(school_id=school), ev.StudentRemoved(
            student_id=student_id, record_version=3))
    now[0] += dt.timedelta(days=29)
    with rt.context.sessions() as s, s.begin():
        dsar.sweep(s)
    with rt.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM requests")).scalar_one() == 0
    now[0] += dt.timedelta(days=2)
    with rt.context.sessions() as s, s.begin():
        dsar.sweep(s)
    with rt.engine.connect() as conn:
        request = conn.execute(sa.text("SELECT kind, subject_id, status FROM requests")).one()
        sent = conn.execute(sa.text("SELECT event_type FROM outbox WHERE event_type != "
                                    "'AuditCheckpointed'")).scalars().all()  # the audit's
    assert tuple(request) == ("erasure", student_id, "in_progress")
    assert sent == ["ErasureRequested"]
    rt.engine.dispose()
