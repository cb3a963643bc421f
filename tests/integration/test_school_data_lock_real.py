"""A school's data event applied while its offboarding or an erasure runs, on PostgreSQL
(a worker consumes the data and rights queues at once, in two transactions): the data
event's check of the tombstones came before the erasure's deletions, so without the
school's lock its rows were written after them and left (CI, 2026-12-07: a report mail
row of an offboarded school). The erasure now waits for the data event's commit, then
deletes what it wrote."""
from __future__ import annotations

import threading
import uuid
from dataclasses import replace

import pytest
import sqlalchemy as sa

from services.notifications.app import SPEC
from shared.contracts import typed as ev
from shared.messaging.consumer import Event
from shared.messaging.envelope import new_envelope
from shared.service import ServiceRuntime
from tests.support import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def notifications(broker_settings, new_database, tmp_path):
    settings = replace(broker_settings, data_dir=tmp_path,
                       database_urls={"notifications": new_database("notifications")})
    rt = ServiceRuntime(SPEC, settings)
    rt.start()
    yield rt
    rt.engine.dispose()


def event(event_type: str, data: dict, producer: str, school: str) -> Event:
    envelope = new_envelope(event_type, data, producer=producer, school_id=school)
    return Event(envelope, ev.BY_TYPE[event_type].load(envelope.data))


def guardian_recorded(school: str) -> Event:
    return event("GuardianRecorded", {
        "record_version": 1, "guardian_id": str(uuid.uuid4()), "given_name": "Morgan",
        "family_name": "Vale", "email": "morgan.vale@example.org"}, "ingest", school)


def offboarding(school: str, _guardian: str) -> Event:
    return event("SchoolOffboarded", {"school_id": school}, "identity", school)


def erasure(school: str, guardian: str) -> Event:
    return event("ErasureRequested", {
        "subject": {"school_id": school, "type": "guardian", "id": guardian},
        "subject_request_id": str(uuid.uuid4())}, "dsar", school)


def waiting_on_an_advisory_lock(rt) -> bool:
    with rt.engine.connect() as conn:
        return bool(conn.execute(sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        )).scalar())


@pytest.mark.parametrize("rights", [offboarding, erasure], ids=["offboarding", "erasure"])
def test_a_data_event_under_way_is_waited_for_and_its_rows_erased(notifications, rights):
    rt = notifications
    school, routes = str(uuid.uuid4()), rt.handlers_by_channel()
    recorded = guardian_recorded(school)
    guardian = recorded.data.guardian_id
    rights_event = rights(school, guardian)
    checked, go = threading.Event(), threading.Event()

    def apply_data() -> None:
        with rt.context.sessions() as session, session.begin():
            routes["data"]["GuardianRecorded"].handler(session, [recorded])
            checked.set()  # the tombstones looked at, the row written, not committed
            assert go.wait(30)

    def apply_rights() -> None:
        with rt.context.sessions() as session, session.begin():
            routes["rights"][rights_event.envelope.type].handler(session, [rights_event])

    data = threading.Thread(target=apply_data)
    data.start()
    assert checked.wait(30)
    erasing = threading.Thread(target=apply_rights)
    erasing.start()
    # The erasure waits for the data event's transaction (it would have finished first).
    wait_for(lambda: waiting_on_an_advisory_lock(rt) or not erasing.is_alive(),
             message="the erasure waiting or done")
    go.set()
    data.join(timeout=30)
    erasing.join(timeout=30)
    assert not data.is_alive() and not erasing.is_alive()
    with rt.engine.connect() as conn:
        left = conn.execute(sa.text("SELECT count(*) FROM guardians WHERE guardian_id = :g"),
                            {"g": guardian}).scalar()
    assert left == 0  # the erasure came after the row, and took it
