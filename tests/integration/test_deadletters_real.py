"""The operators' dead-letter command: a failing handler's event is dead-lettered with its
reason, listed by ids only, replayed after the fix, and applied once."""
import json
import threading
import uuid

import pytest

from shared import deadletters
from shared.messaging.envelope import new_envelope
from shared.worker import run_threads
from tests import fakeservice
from tests.support import publish_events, wait_for

pytestmark = pytest.mark.integration
SCHOOL = str(uuid.uuid4())


def test_dead_letter_is_listed_replayed_after_the_fix_and_applied_once(broker_settings,
                                                                      new_database):
    broken = threading.Event()
    broken.set()

    def sometimes_broken(session, events):
        if broken.is_set():
            raise RuntimeError("projection bug")
        fakeservice.record_effect(session, events)

    rt = fakeservice.runtime(fakeservice.make_spec("reports", {
        "ParentVerified": sometimes_broken}), broker_settings, new_database("dl"))
    stop = threading.Event()
    threads = run_threads(rt.build_workers(), stop)
    try:
        wait_for(lambda: all(w.connected.is_set() for w in rt.queue_workers), message="up")
        student = str(uuid.uuid4())
        env = new_envelope("ParentVerified", {
            "link_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4()),
            "guardian_id": str(uuid.uuid4()), "student_id": student, "record_version": 1},
            producer="linking", school_id=SCHOOL)
        publish_events(broker_settings, env)  # as linking's relay would publish it

        letters = wait_for(lambda: deadletters.list_letters(rt.engine, rt.spec.tables),
                           message="dead letter")
        (letter,) = letters
        assert set(letter) == set(deadletters.SUMMARY)
        assert letter["event_id"] == env.id and letter["event_type"] == "ParentVerified"
        assert letter["attempts"] == broker_settings.max_attempts
        assert letter["reason"] == "RuntimeError" and student not in json.dumps(letter)
        shown = deadletters.show_letter(rt.engine, rt.spec.tables, letter["id"])
        assert shown["envelope"]["id"] == env.id and "student_id" in shown["data_fields"]
        assert student not in json.dumps(shown)  # the data's field names, not its values
        assert fakeservice.count(rt, "effects") == 0

        broken.clear()  # the fix is deployed
        assert deadletters.replay(rt.engine, rt.spec.tables, broker_settings, None) == 1
        wait_for(lambda: fakeservice.count(rt, "effects", "event_id=:e", e=env.id) == 1,
                 message="replayed event applied")
        assert deadletters.replay(rt.engine, rt.spec.tables, broker_settings, None) == 0
        assert deadletters.list_letters(rt.engine, rt.spec.tables) == []
        assert deadletters.purge(rt.engine, rt.spec.tables, None) == 1
        assert fakeservice.count(rt, "effects") == 1
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        rt.engine.dispose()
