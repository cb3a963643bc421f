"""A service's /metrics on real PostgreSQL and RabbitMQ: the outbox backlog rises while the
service's broker connection is cut (a TCP proxy of the test's own, the shared broker
untouched) and falls once it returns; events published are counted."""
import re
import threading
import uuid
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kombu import Connection

from services.ingest.app import SPEC as INGEST
from shared import metrics
from shared.auth import TokenSigner, TokenVerifier, key_id
from shared.messaging import topology
from shared.service import ServiceRuntime
from shared.worker import run_threads
from tests.support import wait_for
from tests.tcpproxy import TcpProxy

pytestmark = pytest.mark.integration


def metric(name: str, **labels) -> float | None:
    """From this process's registry: what its /metrics port would serve."""
    text = metrics.exposition()[0].decode()
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if re.match(rf"{name}[{{ ]", line) and all(w in line for w in wanted)]
    return sum(values) if values else None


def test_the_outbox_backlog_rises_while_the_broker_is_cut_and_falls_after(
        broker_settings, tmp_path, new_database):
    broker = urlsplit(broker_settings.broker_url)
    proxy = TcpProxy(broker.hostname, broker.port or 5672)
    through_proxy = broker_settings.broker_url.replace(broker.netloc.split("@")[-1],
                                                       f"127.0.0.1:{proxy.port}")
    settings = replace(broker_settings, broker_url=through_proxy, data_dir=tmp_path,
                       database_urls={**broker_settings.database_urls,
                                      "ingest": new_database("ingest")})
    with Connection(broker_settings.broker_url) as conn:  # the queues, on the real broker
        topology.declare_topology(conn.channel(), broker_settings)
    ingest = ServiceRuntime(INGEST, settings)
    ingest.start()
    key = Ed25519PrivateKey.generate()
    ingest.verifier = TokenVerifier(lambda: {key_id(key.public_key()): key.public_key()})
    client = ingest.create_app().test_client()
    school = str(uuid.uuid4())
    token = TokenSigner(key).issue(str(uuid.uuid4()), "school_system", [school])
    stop = threading.Event()
    threads = run_threads([loop for loop in ingest.build_workers()
                           if loop[0].endswith("relay")], stop)

    def push(count: int) -> None:
        response = client.post("/api/v1/school-data/batches", json={
            "batch_id": uuid.uuid4().hex, "events": [
                {"type": "staff.upserted", "source_id": f"T{uuid.uuid4().hex[:8]}",
                 "data": {"title": "Mr", "given_name": "Al", "family_name": "Ng"}}
                for _ in range(count)]}, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 202, response.json

    def backlog() -> float:
        return metric("pp_outbox_backlog", service="ingest")

    def requests_timed() -> float:  # counters are per process: compare with the start
        return metric("pp_http_request_duration_seconds_count", service="ingest",
                      route="/api/v1/school-data/batches", status="202") or 0

    try:
        timed = requests_timed()
        push(5)
        wait_for(lambda: backlog() == 0, timeout=30, message="the first events published")
        published = metric("pp_events_published_total", service="ingest",
                           event_type="StaffRecorded")
        assert published >= 5  # this process may have published others before

        proxy.cut()
        push(10)
        assert backlog() == 10
        push(10)
        assert backlog() == 20  # rising while the broker is out of reach
        wait_for(lambda: metric("pp_outbox_oldest_age_seconds",
                                service="ingest") > 0.5, timeout=10,
                 message="the oldest unsent event ageing")
        assert backlog() == 20

        proxy.restore()
        wait_for(lambda: backlog() == 0, timeout=60, message="the backlog published")
        assert metric("pp_events_published_total", service="ingest",
                      event_type="StaffRecorded") == published + 20
        assert requests_timed() == timed + 3
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        proxy.close()
        ingest.engine.dispose()
