"""A school's batch applied with set-based writes, on real PostgreSQL (its statements
differ from SQLite's): the scenarios of tests/unit/test_ingest_bulk.py, and batches of
one school pushed at once by several workers."""
import threading
import uuid
from dataclasses import replace

import pytest

from services.ingest.app import SPEC
from shared.config import Settings
from shared.service import ServiceRuntime
from tests.unit import test_ingest_bulk as bulk

pytestmark = pytest.mark.integration


@pytest.fixture
def rt(tmp_path, new_database):
    settings = replace(Settings.from_env({"PP_DATA_DIR": str(tmp_path)}),
                       database_urls={"ingest": new_database("ingest")})
    runtime = ServiceRuntime(SPEC, settings)
    runtime.start()
    yield runtime
    runtime.engine.dispose()


def test_statements_do_not_grow_with_the_batch(rt):
    bulk.statements_do_not_grow_with_the_batch(rt)


def test_a_record_named_twice_in_a_batch_takes_each_version_in_order(rt):
    bulk.a_record_named_twice_in_a_batch_takes_each_version_in_order(rt)


def test_refused_events_change_nothing_and_the_others_apply(rt):
    bulk.refused_events_change_nothing_and_the_others_apply(rt)


def test_references_across_batches_keep_their_ids(rt):
    bulk.references_across_batches_keep_their_ids(rt)


def test_results_travel_gathered_by_student(rt):
    bulk.results_travel_gathered_by_student(rt)


def test_batches_of_one_school_pushed_at_once_share_their_new_records(rt):
    """Each batch names the same new students: the push lock makes one transaction insert
    them and the others find them, so nothing collides and each student has one id."""
    school = str(uuid.uuid4())
    batches = [[bulk.student(f"S{n}", f"Name{n}") for n in range(200)]
               + [bulk.attainment(f"A{w}-{n}", f"S{n}") for n in range(200)]
               for w in range(4)]
    results, errors = [], []

    def push(events):
        try:
            results.append(bulk.push(rt, school, events))
        except Exception as exc:  # reported below, with the others
            errors.append(exc)
    threads = [threading.Thread(target=push, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and [r["accepted"] for r in results] == [400] * 4
    events = bulk.outbox(rt, school)
    recorded = [e for e in events if e["type"] == "StudentRecorded"]
    assert len(recorded) == 200  # the same content from the later batches: nothing new
    ids = {e["data"]["student_id"] for e in recorded}
    assert {e["data"]["student_id"] for e in events
            if e["type"] == "AttainmentRecorded"} == ids
    assert all(bulk.record(rt, school, "student", f"S{n}")[1:] == (1, True)
               for n in range(200))
