"""On real PostgreSQL: a commit that writes outbox rows wakes the service's relay at once
(LISTEN/NOTIFY, shared/messaging/wakeup.py), from another connection as from another
process; the relay's poll stays the fallback."""
import json
import threading
import uuid

import pytest
import sqlalchemy as sa

from shared.messaging.relay import LISTENING_POLL_SECONDS, OutboxRelay
from shared.messaging.wakeup import CHANNEL
from tests import fakeservice
from tests.support import OneByOnePublisher, wait_for

pytestmark = pytest.mark.integration

SCHOOL = "00000000-0000-4000-8000-00000000000a"
# Far longer than any wait below: only a notice can wake the relay in time.
POLL_SECONDS = 120.0


class Recording(OneByOnePublisher):
    def __init__(self):
        self.sent: list[str] = []

    def publish(self, routing_key, body, message_id):
        self.sent.extend(e["id"] for e in (json.loads(body) if body.startswith("[")
                                           else [json.loads(body)]))


def verified_data():
    return {"link_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4()),
            "guardian_id": str(uuid.uuid4()), "student_id": str(uuid.uuid4()),
            "record_version": 1}


@pytest.fixture
def idle_relay(broker_settings, new_database):
    """A relay that polls only every POLL_SECONDS, idle and listening."""
    rt = fakeservice.runtime(fakeservice.make_spec("linking"), broker_settings,
                             new_database("wakeup"))
    publisher = Recording()
    relay = OutboxRelay(rt.engine, rt.spec.tables, publisher, name="wakeup")
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop, POLL_SECONDS), daemon=True)
    thread.start()
    wait_for(relay.listening.is_set, message="the relay listening")
    yield rt, relay, publisher
    stop.set()
    relay.wakeup.set()
    thread.join(timeout=10)
    rt.engine.dispose()


def write_event(rt) -> str:
    with rt.context.sessions() as session, session.begin():
        envelope = rt.context.outbox.add(session, "ParentVerified", verified_data(),
                                         school_id=SCHOOL)
    return envelope.id


def test_a_commit_wakes_the_relay_at_once_not_at_its_next_poll(idle_relay):
    rt, relay, publisher = idle_relay
    event_id = write_event(rt)
    wait_for(lambda: event_id in publisher.sent, timeout=20,
             message="the event sent on the commit's notice")
    assert relay.pending() == 0


def test_a_listening_relay_polls_at_the_fallback_and_as_often_as_before_once_cut(
        broker_settings, new_database):
    """Issue 27: listening, an idle relay looks at its outbox every LISTENING_POLL_SECONDS
    (a commit's notice wakes it before); its listener cut, every `idle_wait` until it
    listens again."""
    rt = fakeservice.runtime(fakeservice.make_spec("linking"), broker_settings,
                             new_database("wakeup"))
    relay = OutboxRelay(rt.engine, rt.spec.tables, Recording(), name="wakeup")
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(relay.listening.is_set, message="the relay listening")
        assert relay.poll_wait(0.2) == LISTENING_POLL_SECONDS
        [first] = _listeners(rt)
        with rt.engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        wait_for(lambda: relay.poll_wait(0.2) == 0.2, timeout=30,
                 message="the relay polling every idle_wait, its listener cut")
        event_id = write_event(rt)  # sent whether the notice or a poll finds it first
        wait_for(lambda: event_id in relay.publisher.sent, timeout=20,
                 message="the event sent")
    finally:
        stop.set()
        relay.wakeup.set()
        thread.join(timeout=10)
        rt.engine.dispose()


def test_the_relay_listens_again_after_its_connection_is_cut(idle_relay):
    rt, relay, publisher = idle_relay
    [first] = _listeners(rt)
    with rt.engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    wait_for(lambda: relay.listening.is_set() and _listeners(rt) - {first}, timeout=30,
             message="the relay listening again on a new connection")
    event_id = write_event(rt)
    wait_for(lambda: event_id in publisher.sent, timeout=20,
             message="the event sent on the notice after the cut")


def _listeners(rt) -> set[int]:
    """The backends listening for the relay."""
    with rt.engine.connect() as conn:
        return set(conn.execute(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND query = :listen"), {"listen": f"LISTEN {CHANNEL}"}).scalars())
