"""A school's pushes are taken at a bounded pace (issue 27), on real PostgreSQL and
RabbitMQ: beyond PP_INGEST_SCHOOL_EVENTS_PER_SECOND (over 10 seconds) the batch is refused
whole with 429, Retry-After and the one JSON error; nothing of it is kept; the same batch
after the wait is taken, and every event accepted reaches the consumers."""
import time
from dataclasses import replace

import pytest

from tests.integration.test_ingest_real import Push, student
from tests.support import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def paced_push(broker_settings, tmp_path, new_database):
    push = Push(replace(broker_settings, ingest_school_events_per_second=2), tmp_path,
                new_database)  # 20 events a school in any 10 seconds
    yield push
    push.close()


def test_a_push_beyond_the_schools_pace_is_refused_with_retry_after(paced_push):
    _, token = paced_push.school("Fast School")
    first = paced_push.push(token, [student(f"S{i}") for i in range(15)], batch_id="b1")
    assert first.status_code == 202 and first.json["accepted"] == 15
    second_events = [student(f"T{i}") for i in range(10)]
    refused = paced_push.push(token, second_events, batch_id="b2")
    assert refused.status_code == 429 and refused.mimetype == "application/json"
    wait = int(refused.headers["Retry-After"])
    assert 1 <= wait <= 10
    assert refused.json["error"]["code"] == "push_rate_exceeded"
    assert refused.json["error"]["retry_after"] == wait
    auth = {"Authorization": f"Bearer {token}"}
    assert paced_push.client.get("/api/v1/school-data/batches/b2",
                                 headers=auth).status_code == 404  # nothing of it kept

    # The same batch again is answered as before, never refused; another school has its own.
    again = paced_push.push(token, [student(f"S{i}") for i in range(15)], batch_id="b1")
    assert again.status_code == 202 and again.json == first.json
    _, other = paced_push.school("Other School")
    assert paced_push.push(other, [student(f"O{i}") for i in range(15)]).status_code == 202

    # A school system that honours Retry-After gets the batch taken, not before the wait.
    started, answers = time.monotonic(), []

    def taken() -> bool:
        answers.append(paced_push.push(token, second_events, batch_id="b2"))
        return answers[-1].status_code == 202
    wait_for(taken, timeout=15, interval=0.5, message="the batch taken after Retry-After")
    assert {a.status_code for a in answers[:-1]} <= {429}
    assert answers[-1].json["accepted"] == 10 and time.monotonic() - started >= wait - 1
    wait_for(lambda: len(paced_push.events("reports", "StudentRecorded")) >= 40,
             message="every accepted event published")
    assert len(paced_push.events("reports", "StudentRecorded")) == 40  # none lost or twice
