"""A school's batch is applied with set-based writes: the statements one push issues do
not grow with the batch, and versions, removals and refusals still follow the events'
order. SQLite here; tests/integration/test_ingest_bulk_real.py runs the same scenarios on
PostgreSQL, whose statements differ."""
from __future__ import annotations

import hashlib
import json
import uuid
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from services.ingest import domain
from services.ingest.app import SPEC
from services.ingest.service import Ingest
from shared.contracts.events import RESULTS_PER_EVENT
from shared.config import Settings
from shared.db import run_in_transaction
from shared.service import ServiceRuntime
from tests.support import ungathered

# BEGIN or the push lock, the batch ledger and tombstone reads, the records read, insert
# and update, the outbox insert and the ledger row: 8, whatever the batch's size.
MAX_STATEMENTS_PER_PUSH = 10


# --- scenarios, shared with the PostgreSQL run -----------------------------------------------

def statements_do_not_grow_with_the_batch(rt: ServiceRuntime) -> None:
    school = str(uuid.uuid4())
    small = mixed_push(rt, school, start=0, size=50)
    large = mixed_push(rt, school, start=100, size=2500)  # 5,000 events: a full batch
    assert len(large) == len(small) <= MAX_STATEMENTS_PER_PUSH, large
    assert sum(s.lstrip().upper().startswith("SELECT") and " records" in s
               for s in large) == 1


def mixed_push(rt: ServiceRuntime, school: str, start: int, size: int) -> list[str]:
    """The statements of one push of 2 × size events: size changed (pushed before, not
    counted), size new; reads, inserts and updates."""
    push(rt, school, term(start, start + size))
    changed = [with_value(e, "A") if e["type"] == "attainment.recorded" else e
               for e in term(start, start + size)]
    with counted_statements(rt.engine) as seen:
        result = push(rt, school, changed + term(start + size, start + 2 * size))
    assert result["accepted"] == 2 * size and not result["rejected"]
    assert result["published"] > size  # the changed grades and the new events
    assert any(s.lstrip().upper().startswith("UPDATE RECORDS") for s in seen)
    return seen


def a_record_named_twice_in_a_batch_takes_each_version_in_order(rt: ServiceRuntime) -> None:
    school = str(uuid.uuid4())
    push(rt, school, [student("S1", "Ann")])
    push(rt, school, [student("S1", "Ann"),                           # the same: nothing
                      student("S1", "Anne"),                          # version 2
                      {"type": "student.deleted", "source_id": "S1"},  # version 3
                      {"type": "student.deleted", "source_id": "S1"},  # gone already
                      student("S1", "Anne")])                         # version 4
    recorded = [(e["data"]["record_version"], e["data"].get("given_name"))
                for e in outbox(rt, school) if e["type"] in ("StudentRecorded",
                                                             "StudentRemoved")]
    assert recorded == [(1, "Ann"), (2, "Anne"), (3, None), (4, "Anne")]
    assert len({e["data"]["student_id"] for e in outbox(rt, school)}) == 1
    assert record(rt, school, "student", "S1")[1:] == (4, True)


def refused_events_change_nothing_and_the_others_apply(rt: ServiceRuntime) -> None:
    school = str(uuid.uuid4())
    result = push(rt, school, [
        student("S1", "Ann"),
        {**attainment("A1", "S1"), "data": {**attainment("A1", "S1")["data"],
                                            "student_id": "S2", "kind": "score"}},
        student("S3", "Bo\x00"),
        attainment("A2", "S1")])
    assert result["accepted"] == 2
    assert [(r["index"], r["error"].split(":")[0]) for r in result["rejected"]] == [
        (1, "data.kind"), (2, "data.given_name")]
    for record_type, source_id in (("attainment", "A1"), ("student", "S2"),
                                   ("student", "S3")):
        assert record(rt, school, record_type, source_id) is None
    (grade,) = [e for e in outbox(rt, school) if e["type"] == "AttainmentRecorded"]
    (ann,) = [e for e in outbox(rt, school) if e["type"] == "StudentRecorded"]
    assert grade["data"]["student_id"] == ann["data"]["student_id"]
    assert record(rt, school, "class", "C1")[1:] == (0, False)  # named only: an id, no data


def references_across_batches_keep_their_ids(rt: ServiceRuntime) -> None:
    school = str(uuid.uuid4())
    push(rt, school, [attainment("A1", "S9")])  # its student comes later
    push(rt, school, [student("S9", "Cy"), attainment("A2", "S9")])
    ids = {e["data"]["student_id"] for e in outbox(rt, school)}
    assert len(ids) == 1 and ids == {record(rt, school, "student", "S9")[0]}


def results_travel_gathered_by_student(rt: ServiceRuntime) -> None:
    """A batch's results about one student go out as ResultsRecorded events of at most
    RESULTS_PER_EVENT items, each where the student's first result was."""
    school = str(uuid.uuid4())
    many = [attainment(f"A{n}", "S1") for n in range(RESULTS_PER_EVENT + 1)]
    push(rt, school, [attainment("B1", "S2"), student("S1", "Ann"), *many,
                      characteristic("K1", "S2"), attainment("B2", "S2")])
    sent = raw_outbox(rt, school)
    assert [(e["type"], len(e["data"].get("attainment", [])),
             len(e["data"].get("characteristics", []))) for e in sent] == [
        ("ResultsRecorded", 2, 1), ("StudentRecorded", 0, 0),
        ("StudentPlacementRecorded", 0, 0), ("StudentBirthDateRecorded", 0, 0),
        ("ResultsRecorded", RESULTS_PER_EVENT, 0), ("ResultsRecorded", 1, 0)]
    s1, s2 = record(rt, school, "student", "S1")[0], record(rt, school, "student", "S2")[0]
    assert [e["data"]["student_id"] for e in sent if e["type"] == "ResultsRecorded"] == [
        s2, s1, s1]
    first = sent[0]["data"]
    assert [a["attainment_id"] for a in first["attainment"]] == [
        record(rt, school, "attainment", "B1")[0], record(rt, school, "attainment", "B2")[0]]
    assert first["characteristics"][0]["characteristic_id"] == record(
        rt, school, "characteristic", "K1")[0]
    assert all("student_id" not in item and item["record_version"] == 1
               for item in first["attainment"] + first["characteristics"])


# --- helpers ----------------------------------------------------------------------------------

@contextmanager
def counted_statements(engine: sa.Engine):
    """The SQL statements executed meanwhile (an executemany counts once)."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _executemany):
        seen.append(statement)
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def push(rt: ServiceRuntime, school: str, events: list[dict]) -> dict:
    ingest = Ingest(rt.context.outbox, rt.context.participant)
    return run_in_transaction(rt.context.sessions, lambda s: ingest.push(
        s, school, uuid.uuid4().hex, events))


def raw_outbox(rt: ServiceRuntime, school: str) -> list[dict]:
    with rt.engine.connect() as conn:
        return [json.loads(p) for p in conn.execute(sa.text(
            "SELECT payload FROM outbox WHERE school_id = :s ORDER BY seq"),
            {"s": school}).scalars()]


def outbox(rt: ServiceRuntime, school: str) -> list[dict]:
    """The outbox's events, a ResultsRecorded as the results it gathers."""
    return ungathered(raw_outbox(rt, school))


def record(rt: ServiceRuntime, school: str, record_type: str, source_id: str):
    """(id, version, pushed?) of a record, None when it has none."""
    with rt.engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT id, version, content_hash FROM records WHERE school_id = :s "
            "AND source_key = :k"), {"s": school, "k": domain.source_key(
                school, record_type, source_id)}).first()
    return None if row is None else (row.id, row.version, row.content_hash is not None)


def student(source: str, name: str) -> dict:
    return {"type": "student.upserted", "source_id": source, "data": {
        "given_name": name, "family_name": "Lee", "date_of_birth": "2015-03-02",
        "form_group": "7A", "year_group": 7}}


def attainment(source: str, student_source: str, value: str = "B") -> dict:
    return {"type": "attainment.recorded", "source_id": source, "data": {
        "student_id": student_source, "class_id": "C1", "period": "2026 Autumn",
        "kind": "grade", "value": value}}


def characteristic(source: str, student_source: str) -> dict:
    return {"type": "characteristic.recorded", "source_id": source, "data": {
        "student_id": student_source, "period": "2026 Autumn", "kind": "effort",
        "value": "Good"}}


def with_value(event: dict, value: str) -> dict:
    return {**event, "data": {**event["data"], "value": value}}


def term(start: int, stop: int) -> list[dict]:
    """Events start..stop-1 of a school's term: a student, then two of their grades."""
    events = []
    for n in range(start, stop):
        pupil = f"S{n // 3}"
        events.append(student(pupil, f"Name{n}") if n % 3 == 0
                      else attainment(f"A{n}", pupil))
    return events


# --- on SQLite --------------------------------------------------------------------------------

@pytest.fixture
def rt(tmp_path):
    runtime = ServiceRuntime(SPEC, Settings.from_env({"PP_DATA_DIR": str(tmp_path)}))
    runtime.start()
    yield runtime
    runtime.engine.dispose()


def test_statements_do_not_grow_with_the_batch(rt):
    statements_do_not_grow_with_the_batch(rt)


def test_a_record_named_twice_in_a_batch_takes_each_version_in_order(rt):
    a_record_named_twice_in_a_batch_takes_each_version_in_order(rt)


def test_refused_events_change_nothing_and_the_others_apply(rt):
    refused_events_change_nothing_and_the_others_apply(rt)


def test_references_across_batches_keep_their_ids(rt):
    references_across_batches_keep_their_ids(rt)


def test_results_travel_gathered_by_student(rt):
    results_travel_gathered_by_student(rt)


def test_sqlite_looks_each_named_record_up_by_its_key(rt):
    """Embedded mode keeps whole schools in SQLite: the batch's one read must look each
    key up, not scan the school's records (once per key, with a join on json_each)."""
    reads = []

    def keep(_conn, _cursor, statement, params, _context, _executemany):
        if "FROM records" in statement:
            reads.append((statement, params))
    sa.event.listen(rt.engine, "before_cursor_execute", keep)
    try:
        push(rt, str(uuid.uuid4()), term(0, 30))
    finally:
        sa.event.remove(rt.engine, "before_cursor_execute", keep)
    ((statement, params),) = reads
    with rt.engine.connect() as conn:
        plan = " ".join(row[-1] for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}", params))
    assert "SEARCH records USING INDEX" in plan and "source_key=?" in plan, plan


def test_content_hashes_stay_those_stored_before():
    """An unchanged push after an upgrade must still find its content unchanged."""
    events = [("StudentRecorded", {"student_id": "id-1", "given_name": "Zoë",
                                   "family_name": "Lee", "out_of": 1.5, "topic": None})]
    before = json.dumps(["school", "id-1", events], sort_keys=True, default=str)
    assert domain.content_hash("school", "id-1", events) == \
        hashlib.sha256(before.encode()).hexdigest()
