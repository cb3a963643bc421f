"""The sender's hourly-cap count on PostgreSQL (issue 27, the evening's sender): it finds a
batch's recipients through ix_deliveries_recipient_sent, not by reading every sent row."""
import datetime as dt
import uuid
from collections import namedtuple
from dataclasses import replace

import pytest
import sqlalchemy as sa

from services.notifications import sending
from services.notifications.app import SPEC
from services.notifications.domain import DeliveryStatus
from services.notifications.models import deliveries
from shared.config import Settings
from shared.service import ServiceRuntime

pytestmark = pytest.mark.integration
Due = namedtuple("Due", "recipient kind")


def test_the_hourly_cap_count_reads_the_batchs_recipients_by_their_index(new_database):
    """A publication evening's table: analysed while its mail was all pending, then sent
    (autovacuum has not come by). With a status condition beside the sent_at one, the
    planner took the due index for `status = 'sent'` (none, said the statistics) and
    filtered every sent row, each batch: quadratic over an evening."""
    runtime = ServiceRuntime(SPEC, replace(
        Settings.from_env({}), database_urls={"notifications": new_database("notifications")}))
    runtime.start()  # migrations to head
    now = dt.datetime.now(dt.timezone.utc)
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM deliveries" in statement:  # the count (not the cap's advisory locks)
            seen.append((statement, parameters))
    try:
        with runtime.engine.begin() as conn:
            conn.execute(deliveries.insert(), [{
                "id": str(uuid.uuid4()), "event_id": str(uuid.uuid4()),
                "recipient": f"account:{n}", "kind": "report", "subject": "A new report",
                "status": DeliveryStatus.PENDING, "attempts": 0, "next_attempt_at": now,
                "created_at": now} for n in range(3000)])
            conn.exec_driver_sql("ANALYZE deliveries")
            conn.execute(deliveries.update().values(status=DeliveryStatus.SENT, sent_at=now))
        sa.event.listen(runtime.engine, "before_cursor_execute", capture)
        with runtime.context.sessions() as session, session.begin():
            counts = sending._sent_this_hour(
                session, [Due(f"account:{n}", "report") for n in range(100, 150)], now)
        sa.event.remove(runtime.engine, "before_cursor_execute", capture)
        assert counts == {f"account:{n}": 1 for n in range(100, 150)}
        (statement, parameters), = seen
        with runtime.engine.connect() as conn:
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(
                f"EXPLAIN {statement}", parameters))
        assert "ix_deliveries_recipient_sent" in plan, plan
        assert "ix_deliveries_due" not in plan, plan
    finally:
        runtime.engine.dispose()
