"""The held roster is read and deleted with the school's whole set of sourcedIds as one
parameter (shared.db.among): one statement per file, whatever the bundle's size."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from services.ingest import held_roster
from services.ingest.app import SPEC
from services.ingest.models import roster_rows
from services.ingest.oneroster import Bundle, Row
from shared.config import Settings
from shared.service import ServiceRuntime
from tests.unit.test_ingest_bulk import counted_statements

RESULTS = 2500  # more than the 1,000 a statement took before
EARLIER = dt.datetime(2026, 9, 1, tzinfo=dt.timezone.utc)


@pytest.fixture
def rt(tmp_path):
    runtime = ServiceRuntime(SPEC, Settings.from_env({"PP_DATA_DIR": str(tmp_path)}))
    runtime.start()
    yield runtime
    runtime.engine.dispose()


def held(school: str, file: str, sourced_id: str, modified=EARLIER) -> dict:
    return {"school_id": school, "file": file, "sourced_id": sourced_id,
            "modified_at": modified, "data": {}, "subject_id": None}


def test_a_bundles_results_are_checked_against_the_held_ones_in_one_statement(rt):
    school = str(uuid.uuid4())
    with rt.context.sessions() as session, session.begin():
        session.execute(roster_rows.insert(), [held(school, "results", f"R{n}")
                                               for n in range(RESULTS)])
    older = EARLIER - dt.timedelta(days=1)
    bundle = Bundle({"results": "delta"}, rows={"results": [
        Row(f"R{n}", {}, older if n % 2 else EARLIER + dt.timedelta(days=1), line=n + 2)
        for n in range(RESULTS)]})
    with rt.context.sessions() as session, counted_statements(rt.engine) as seen:
        ignored = held_roster.drop_stale_results(session, school, bundle)
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 1, seen
    assert len(ignored) == RESULTS // 2 and len(bundle.rows["results"]) == RESULTS // 2


def test_held_rows_gone_are_deleted_with_a_statement_per_file(rt):
    school, other = str(uuid.uuid4()), str(uuid.uuid4())
    rows = [held(s, file, f"{file}{n}") for s in (school, other)
            for file in ("users", "enrollments") for n in range(1200)]
    with rt.context.sessions() as session, session.begin():
        session.execute(roster_rows.insert(), rows)
    gone = [(file, f"{file}{n}") for file in ("users", "enrollments") for n in range(0, 1200, 2)]
    with rt.context.sessions() as session, session.begin(), \
            counted_statements(rt.engine) as seen:
        held_roster._delete(session, school, gone)
    assert len([s for s in seen if s.lstrip().upper().startswith("DELETE")]) == 2, seen
    with rt.engine.connect() as conn:
        left = conn.execute(roster_rows.select().where(roster_rows.c.school_id == school)
                            ).all()
        others = conn.execute(roster_rows.select().where(roster_rows.c.school_id == other)
                              ).all()
    assert {(r.file, r.sourced_id) for r in left} == {
        (file, f"{file}{n}") for file in ("users", "enrollments") for n in range(1, 1200, 2)}
    assert len(others) == 2400  # another school's rows of the same ids stay
