"""dsar's audit chain on a new database, on PostgreSQL: its first two entries appended at
once. The head row did not exist yet, so `SELECT … FOR UPDATE` locked nothing: both
appends took the genesis hash as their previous one and the second failed on the head's
key when the first committed (a subject request's step lost with its transaction). The
second now waits for the first and chains after it."""
from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import replace

import pytest
import sqlalchemy as sa

from services.dsar import audit_chain
from services.dsar.app import SPEC as DSAR
from services.dsar.models import audit
from shared.service import ServiceRuntime
from tests.support import wait_for, waiting_on_a_lock

pytestmark = pytest.mark.integration


@pytest.fixture
def dsar(broker_settings, new_database, tmp_path):
    settings = replace(broker_settings, data_dir=tmp_path / "dsar",
                       database_urls={"dsar": new_database("dsar")})
    rt = ServiceRuntime(DSAR, settings)
    rt.start()
    yield rt
    rt.engine.dispose()


def test_the_chains_first_two_entries_appended_at_once_both_land_in_order(dsar):
    at = dt.datetime.now(dt.timezone.utc)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    failed: list[BaseException] = []

    def append_second() -> None:
        try:
            with dsar.context.sessions() as session, session.begin():
                audit_chain.append(session, second, at, "received")
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            failed.append(exc)

    with dsar.context.sessions() as session, session.begin():
        audit_chain.append(session, first, at, "received")
        thread = threading.Thread(target=append_second, daemon=True)
        thread.start()
        wait_for(lambda: waiting_on_a_lock(dsar.engine) or not thread.is_alive(), timeout=30,
                 message="the second append waiting for the first's head")
        assert thread.is_alive(), failed  # it waits for the first, rather than going on
    thread.join(timeout=30)

    assert not thread.is_alive() and failed == []
    with dsar.engine.connect() as conn:
        rows = conn.execute(sa.select(audit.c.request_id, audit.c.prev_hash, audit.c.hash)
                            .order_by(audit.c.id)).all()
        assert [r.request_id for r in rows] == [first, second]
        assert rows[1].prev_hash == rows[0].hash  # chained after the first, not beside it
        assert list(audit_chain.check(conn)) == []
