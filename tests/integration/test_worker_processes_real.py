"""Two worker processes of one service on one queue: every event applied exactly once,
even when each event is delivered twice and the copies race in different processes."""
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from shared.messaging.envelope import new_envelope
from tests import fakeservice
from tests.support import publish_events, queue_counts, terminate, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCHOOL = str(uuid.uuid4())


def test_two_worker_processes_apply_each_event_once(broker_settings, new_database, tmp_path):
    url = new_database("twoworkers")
    spec = fakeservice.make_spec("reports", {"ParentVerified": fakeservice.record_effect})
    engine = sa.create_engine(url)
    spec.metadata.create_all(engine)
    env = {**os.environ, "PP_BROKER_URL": broker_settings.broker_url,
           "PP_EXCHANGE": broker_settings.exchange,
           "PP_QUEUE_PREFIX": broker_settings.queue_prefix, "PP_PREFETCH": "8"}
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = [subprocess.Popen([sys.executable, "-m", "tests.fakeworker", url], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
               for log in logs]
    queue = f"{broker_settings.queue_prefix}reports.data"
    try:
        wait_for(lambda: queue_counts(broker_settings.broker_url, queue)[1] == 2, timeout=60,
                 message="two consumers")
        events = [new_envelope("ParentVerified", {
            "link_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4()),
            "guardian_id": str(uuid.uuid4()), "student_id": str(uuid.uuid4()),
            "record_version": 1}, producer="linking", school_id=SCHOOL) for _ in range(400)]
        publish_events(broker_settings, *events, copies=2)  # every event delivered twice

        def drained():
            return queue_counts(broker_settings.broker_url, queue)[0] == 0
        try:
            wait_for(lambda: drained() and _count(engine) >= len(events), timeout=120,
                     message="all events applied")
        except AssertionError as exc:  # say where it stuck, with the workers' own words
            tails = "\n".join(f"--- worker {i} (exit {w.poll()}):\n"
                              + log.read_text()[-2000:] for i, (w, log)
                              in enumerate(zip(workers, logs)))
            raise AssertionError(f"{exc}; queue {queue_counts(broker_settings.broker_url, queue)}"
                                 f", applied {_count(engine)}\n{tails}") from None
    finally:
        # Stop both workers before counting: a copy still in flight is then either applied
        # (and counted below) or back in the queue, never missed by the assertion.
        terminate(workers)
    with engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT event_id FROM effects")).scalars().all()
    engine.dispose()
    assert sorted(ids) == sorted(e.id for e in events)  # each exactly once


def _count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM effects")).scalar_one()
