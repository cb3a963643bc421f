"""PostgreSQL failover under the services (issue 26), on a primary and a synchronous
streaming standby of the test's own (tests/throwaway_postgres.py). Every service's database
URL names both hosts with `target_session_attrs=read-write`. A school system pushes batch
after batch; during a push the primary's processes are SIGKILLed (a lost machine). While no
server takes writes the services answer 503 with Retry-After, and the school system sends
the same batch again; the standby is promoted, and the same service objects, never
restarted, take writes on it. Every batch answered 202 is there, every event it made
reached its consumers once, and nothing was applied twice or dead-lettered."""
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from shared import contracts, metrics
from shared.messaging import topology
from tests.support import wait_for
from tests.system import RealSystem, student

pytestmark = pytest.mark.integration
SERVICES = ["identity", "ingest", "reports"]
PER_BATCH = 100


class SchoolSystem(threading.Thread):
    """Pushes batches one after another, each until it is answered 202, trying again
    (the same batch_id) after a 503."""

    def __init__(self, client, token: str):
        super().__init__(daemon=True)
        self.client, self.token = client, token
        self.stop = threading.Event()
        self.in_flight = threading.Event()
        self.accepted: list[tuple[str, list[str], float]] = []  # batch, sources, when
        self.unavailable: list[tuple[dict, str | None]] = []  # 503: body, Retry-After
        self.unexpected: list[tuple[int, object]] = []

    def run(self) -> None:
        number = 0
        while not self.stop.is_set() and not self.unexpected:
            sources = [f"P{number}-{k}" for k in range(PER_BATCH)]
            body = {"batch_id": uuid.uuid4().hex,
                    "events": [student(s, given_name=f"N{s}") for s in sources]}
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # a batch is finished even after stop
                self.in_flight.set()
                answer = self.client.post("/api/v1/school-data/batches", json=body,
                                          headers={"Authorization": f"Bearer {self.token}"})
                self.in_flight.clear()
                if answer.status_code == 202 and not answer.json["rejected"]:
                    self.accepted.append((body["batch_id"], sources, time.monotonic()))
                    break
                if answer.status_code == 503:
                    self.unavailable.append((answer.json, answer.headers.get("Retry-After")))
                    self.stop.wait(0.1)  # the test's pace, not Retry-After's 5 s
                    continue
                self.unexpected.append((answer.status_code, answer.get_json(silent=True)))
                return
            else:
                self.unexpected.append((0, f"batch {number} never accepted"))
                return
            number += 1


def _scalar(system, service, query, **params):
    with system.runtimes[service].engine.connect() as conn:
        return conn.execute(sa.text(query), params).scalar()


def _column(system, service, query) -> list:
    with system.runtimes[service].engine.connect() as conn:
        return list(conn.execute(sa.text(query)).scalars())


def test_services_carry_on_through_a_primary_killed_and_the_standby_promoted(
        broker_settings, tmp_path, own_postgres_pair):
    pair = own_postgres_pair
    system = RealSystem(broker_settings, tmp_path, pair.database, SERVICES)
    try:
        assert "target_session_attrs=read-write" in str(
            system.runtimes["ingest"].engine.url)
        school, token = system.school()
        pusher = SchoolSystem(system.clients["ingest"].application.test_client(), token)
        pusher.start()
        wait_for(lambda: len(pusher.accepted) >= 3, timeout=120, interval=0.05,
                 message="batches accepted before the fault")

        # The primary dies during a push.
        assert pusher.in_flight.wait(30)
        pair.primary.kill()
        killed_at = time.monotonic()
        accepted_before = len(pusher.accepted)

        wait_for(lambda: len(pusher.unavailable) >= 3, timeout=60, interval=0.05,
                 message="pushes answered 503 while no server takes writes")
        assert not pusher.unexpected, pusher.unexpected
        ready = system.call("reports", "get", "/readyz")
        assert ready.status_code == 503 and ready.json["checks"]["database"] != "ok"
        for body, retry_after in pusher.unavailable:
            assert body["error"]["code"] == "unavailable" and retry_after == "5"

        pair.standby.promote()
        promoted_at = time.monotonic()
        wait_for(lambda: len(pusher.accepted) >= accepted_before + 3 or pusher.unexpected,
                 timeout=120, interval=0.05, message="pushes accepted on the new primary")
        pusher.stop.set()
        pusher.join(timeout=150)
        assert not pusher.is_alive()
        assert not pusher.unexpected, pusher.unexpected
        first_after = min(when for _, _, when in pusher.accepted[accepted_before:])
        print(f"\nno primary for {promoted_at - killed_at:.2f}s "
              f"({len(pusher.unavailable)} pushes answered 503); first push accepted "
              f"{first_after - promoted_at:.2f}s after the promotion")

        # Every 202 is on the new primary (the standby), once.
        with system.runtimes["ingest"].engine.connect() as conn:
            assert conn.execute(sa.text("SELECT inet_server_port()")).scalar() == \
                pair.standby.port
        batches = set(_column(system, "ingest", "SELECT batch_id FROM batches"))
        assert {batch for batch, _, _ in pusher.accepted} <= batches
        pushed = [s for _, sources, _ in pusher.accepted for s in sources]
        assert len(pushed) == len(set(pushed))
        # Each student made one StudentRecorded: no batch was applied twice.
        assert _scalar(system, "ingest", "SELECT count(*) FROM outbox WHERE event_type = "
                       "'StudentRecorded'") == len(pushed)

        # Every event reached every running consumer's inbox, applied once.
        routed: dict[str, set[str]] = {s: set() for s in SERVICES}
        with system.runtimes["ingest"].engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT event_id, event_type FROM outbox")).all()
        for producer in SERVICES:
            if producer != "ingest":
                with system.runtimes[producer].engine.connect() as conn:
                    rows += conn.execute(sa.text(
                        "SELECT event_id, event_type FROM outbox")).all()
        for event_id, event_type in rows:
            for consumer in topology.consumers_of(contracts.latest(event_type)):
                if consumer in routed:
                    routed[consumer].add(event_id)
        wait_for(lambda: all(routed[s] <= set(_column(system, s, "SELECT event_id FROM inbox"))
                             for s in SERVICES),
                 timeout=180, interval=0.3, message="every event in every inbox")
        assert _scalar(system, "reports", "SELECT count(*) FROM students WHERE "
                       "school_id = :s", s=school) == len(pushed)
        prefix = system.settings.queue_prefix
        applied = sum(sample.value for family in metrics.CONSUMED.collect()
                      for sample in family.samples
                      if sample.name.endswith("_total")
                      and sample.labels["outcome"] == "applied"
                      and sample.labels["queue"].startswith(prefix))
        inbox = sum(_scalar(system, s, "SELECT count(*) FROM inbox") for s in SERVICES)
        assert applied == inbox, "an event was applied twice"
        for service in SERVICES:
            assert _scalar(system, service, "SELECT count(*) FROM dead_letters") == 0, service
    finally:
        system.close()
