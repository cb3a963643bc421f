"""A rights event is not held up behind a data backlog: each service consumes its rights
queue alongside its data queue (DESIGN.md "Reliability rules")."""
import threading
import uuid

import pytest
import sqlalchemy as sa
from kombu import Connection

from shared.messaging import topology
from shared.messaging.envelope import new_envelope
from shared.worker import run_threads
from tests import fakeservice
from tests.support import publish_events, queue_counts, wait_for

pytestmark = pytest.mark.integration
SCHOOL = "00000000-0000-4000-8000-0000000000fd"
BACKLOG = 10_000


def test_a_rights_event_behind_ten_thousand_data_events_is_applied_first(broker_settings,
                                                                        new_database):
    rt = fakeservice.runtime(
        fakeservice.make_spec("reports", {"ParentVerified": fakeservice.record_effect}),
        broker_settings, new_database("backlog"))
    data_queue = f"{broker_settings.queue_prefix}reports.data"
    data_events = (new_envelope("ParentVerified", {
        "link_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4()),
        "guardian_id": str(uuid.uuid4()), "student_id": str(uuid.uuid4()),
        "record_version": 1}, producer="linking", school_id=SCHOOL) for _ in range(BACKLOG))
    erasure = new_envelope("ErasureRequested", {
        "subject": {"school_id": SCHOOL, "type": "student", "id": str(uuid.uuid4())},
        "subject_request_id": str(uuid.uuid4())}, producer="dsar", school_id=SCHOOL)
    with Connection(broker_settings.broker_url) as conn:
        topology.declare_topology(conn.channel(), broker_settings)
    publish_events(broker_settings, *data_events, erasure)
    wait_for(lambda: queue_counts(broker_settings.broker_url, data_queue)[0] == BACKLOG,
             timeout=60, message="the whole backlog queued before any consumer starts")

    stop = threading.Event()
    threads = run_threads(rt.build_workers(), stop)
    inbox = rt.spec.tables.inbox
    try:
        def erasure_applied_at():
            with rt.engine.connect() as conn:
                return conn.execute(sa.select(inbox.c.applied_at).where(
                    inbox.c.event_id == erasure.id)).scalar()
        applied_at = wait_for(erasure_applied_at, timeout=60, message="erasure applied")
        with rt.engine.connect() as conn:
            data_before = conn.execute(sa.select(sa.func.count()).select_from(inbox).where(
                inbox.c.event_type == "ParentVerified",
                inbox.c.applied_at < applied_at)).scalar_one()
        # Behind a single queue it would have waited for all 10,000.
        assert data_before < BACKLOG // 10
        # ... and the data queue is not starved either: it keeps draining meanwhile.
        wait_for(lambda: fakeservice.count(rt, "effects") > data_before, timeout=30,
                 message="data backlog still being consumed")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        rt.engine.dispose()
