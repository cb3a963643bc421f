"""A rights event answered through the shared participant, over real RabbitMQ and PostgreSQL."""
import threading
import uuid

import pytest
import sqlalchemy as sa
from kombu import Connection, Exchange, Queue

from shared.messaging.envelope import new_envelope
from shared.worker import run_threads
from tests import fakeservice
from tests.conftest import register_queue
from tests.support import envelopes_of, publish_events, wait_for

pytestmark = pytest.mark.integration

SCHOOL = str(uuid.uuid4())


@pytest.fixture
def participant(broker_settings, new_database):
    rt = fakeservice.runtime(fakeservice.make_spec("linking"), broker_settings,
                             new_database("rights"))
    stop = threading.Event()
    threads = run_threads(rt.build_workers(), stop)
    wait_for(lambda: all(w.connected.is_set() for w in rt.queue_workers), message="connected")
    yield rt
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    rt.engine.dispose()


@pytest.fixture
def answers(broker_settings):
    """A queue standing in for dsar: catches every rights answer on this test's exchange."""
    queue = Queue(f"{broker_settings.queue_prefix}answers",
                  exchange=Exchange(broker_settings.exchange, type="topic"),
                  routing_key="*.#", durable=False, auto_delete=False)
    register_queue(broker_settings, queue.name)
    conn = Connection(broker_settings.broker_url)
    channel = conn.channel()
    queue(channel).declare()

    def next_answer(answer_type: str, request_id: str) -> dict:
        waiting: list[dict] = []

        def find():
            message = queue(channel).get(no_ack=True)
            if message is not None:
                waiting.extend(envelopes_of(message.body))
            while waiting:
                body = waiting.pop(0)
                if body["type"] == answer_type and body["data"]["request_id"] == request_id:
                    return body
            return None
        return wait_for(find, message=f"{answer_type} answer")
    yield next_answer
    conn.release()


def request(kind, student_id):
    return new_envelope(kind, {"subject": {"school_id": SCHOOL, "type": "student",
                                           "id": student_id},
                               "subject_request_id": str(uuid.uuid4())},
                        producer="dsar", school_id=SCHOOL)


def test_export_returns_declared_data_and_erase_removes_it(participant, answers,
                                                           broker_settings):
    ann = str(uuid.uuid4())
    with participant.context.sessions() as s, s.begin():
        s.execute(sa.text("INSERT INTO pupils (id, school_id, given_name, date_of_birth) "
                          "VALUES (:i, :s, 'Ann', '2015-03-02'), (:j, :s, 'Ben', "
                          "'2014-01-09')"), {"i": ann, "j": str(uuid.uuid4()), "s": SCHOOL})

    access = request("AccessRequested", ann)
    publish_events(broker_settings, access)
    exported = answers("SubjectDataExported", access.id)
    assert exported["producer"] == "linking" and exported["data"]["outcome"] == "done"
    assert exported["data"]["tables"]["pupils"] == [
        {"id": ann, "school_id": SCHOOL, "given_name": "Ann", "date_of_birth": "2015-03-02"}]

    wait_for(lambda: fakeservice.count(participant, "outbox", "sent_at IS NULL") == 0,
             message="export marked sent")
    erase = request("ErasureRequested", ann)
    publish_events(broker_settings, erase)
    completed = answers("ErasureCompleted", erase.id)
    assert completed["data"]["counts"]["pupils"] == 1
    assert fakeservice.count(participant, "pupils", "id=:i", i=ann) == 0
    assert fakeservice.count(participant, "pupils") == 1
    # The exported payload held Ann's data: once sent, erasure scrubs it from the outbox.
    with participant.engine.connect() as conn:
        leftovers = conn.execute(sa.text(
            "SELECT count(*) FROM outbox WHERE payload LIKE :p"), {"p": "%Ann%"}).scalar_one()
    assert leftovers == 0


@pytest.mark.parametrize("name", ["identity", "reports"])
def test_the_rights_state_keeps_its_rows_when_keyed_by_school_on_postgresql(name,
                                                                          new_database):
    import importlib

    from shared.db import make_engine
    from tests.unit.test_data_map import migrate_keeping_rights_state
    engine = make_engine(new_database(name))
    try:
        spec = importlib.import_module(f"services.{name}.app").SPEC
        migrate_keeping_rights_state(engine, spec)
    finally:
        engine.dispose()
