"""A push's events are written in turns of each type (services/ingest/outgoing.in_turns):
the relay sends rows in the order written, so a school's guardians go out beside its
students, not after all of them; each type keeps its own order."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from hypothesis import given, settings, strategies as st

from services.ingest.app import SPEC
from services.ingest.outgoing import in_turns
from shared.config import Settings
from shared.messaging.envelope import Envelope
from shared.service import ServiceRuntime
from tests.unit.test_ingest_bulk import push, student

TYPES = ("StudentRecorded", "GuardianRecorded", "ClassRecorded")


def envelope(event_type: str, n: int) -> Envelope:
    return Envelope(id=str(uuid.uuid4()), type=event_type, version=1, occurred_at=None,
                    producer="ingest", school_id=None, correlation_id="c", data={"n": n})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(TYPES), max_size=60), st.integers(min_value=1, max_value=7))
def test_turns_keep_every_event_and_each_types_order(types, per_turn):
    events = [envelope(t, n) for n, t in enumerate(types)]
    written = in_turns(events, per_turn)
    assert sorted(e.data["n"] for e in written) == list(range(len(events)))
    for event_type in TYPES:  # a type's events (a record's versions) in their order
        ns = [e.data["n"] for e in written if e.type == event_type]
        assert ns == sorted(ns)
    turns = [sum(1 for w in written[:i] if w.type == e.type) // per_turn
             for i, e in enumerate(written)]
    assert turns == sorted(turns)  # every type's n-th turn before any type's next


def guardian(source: str, child: str) -> dict:
    return {"type": "guardian.upserted", "source_id": source, "data": {
        "given_name": "Pat", "family_name": "Lee", "email": f"{source}@example.org",
        "students": [{"student_id": child, "relationship": "parent",
                      "receives_reports": True}]}}


@pytest.fixture
def rt(tmp_path):
    runtime = ServiceRuntime(SPEC, Settings.from_env({"PP_DATA_DIR": str(tmp_path)}))
    runtime.start()
    yield runtime
    runtime.engine.dispose()


def test_a_push_of_students_then_guardians_writes_guardians_among_the_first_rows(rt):
    school = str(uuid.uuid4())
    pupils = [student(f"S{n}", f"Name{n}") for n in range(300)]  # 900 student events
    push(rt, school, pupils + [guardian(f"G{n}", f"S{n}") for n in range(300)])
    with rt.engine.connect() as conn:
        written = conn.execute(sa.text(
            "SELECT event_type FROM outbox WHERE school_id = :s ORDER BY seq"),
            {"s": school}).scalars().all()
    assert len(written) == 1500
    first_round = written[:500]  # what a relay takes in its first round (500)
    assert {"GuardianRecorded", "GuardianStudentsRecorded"} <= set(first_round)
    assert written[:100] == ["StudentRecorded", "StudentPlacementRecorded",
                             "StudentBirthDateRecorded"] * 33 + ["StudentRecorded"]
