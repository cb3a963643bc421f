"""The whole journey under faults (issue 12), on real RabbitMQ and PostgreSQL: the broker
killed and restarted (a node of the test's own), one service's broker connection cut and
restored (a TCP proxy of the test's own), a service's database server restarted under it
(a server of the test's own). Each time the journey completes, no event is lost (every
event published reaches every consumer's inbox), none is applied twice (applied counters
equal inbox rows), and nothing is dead-lettered. (A SIGKILLed worker: tests/e2e.)"""
import re
import uuid
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from shared import contracts, metrics
from shared.config import SERVICES
from shared.messaging import topology
from tests.support import wait_for
from tests.system import RealSystem, guardian, student
from tests.tcpproxy import TcpProxy

pytestmark = pytest.mark.integration
PERIOD = "Autumn 2026"


def _sql(system, service, query, **params):
    with system.runtimes[service].engine.connect() as conn:
        return conn.execute(sa.text(query), params).scalar()


def _rows(system, service, query):
    with system.runtimes[service].engine.connect() as conn:
        return conn.execute(sa.text(query)).all()


def journey(system, fault) -> None:
    """Operator to erasure; `fault(stage)` breaks something at named stages."""
    school, system_token = system.school()
    admin = system.admin(school, f"head-{uuid.uuid4().hex[:6]}@hill.example")
    parent_email = f"parent-{uuid.uuid4().hex[:6]}@home.example"
    system.push(system_token, [
        student("S1", "2015-03-02"), guardian("G1", parent_email, {"S1": True}),
        {"type": "staff.upserted", "source_id": "T1", "data": {
            "title": "Ms", "given_name": "Jo", "family_name": "Khan"}},
        {"type": "class.upserted", "source_id": "C1", "data": {
            "name": "7A Maths", "subject": "Maths", "teacher_ids": ["T1"],
            "student_ids": ["S1"]}}])
    fault("pushed")
    system.push(system_token, [{"type": "attainment.recorded", "source_id": "A1", "data": {
        "student_id": "S1", "class_id": "C1", "period": PERIOD, "kind": "mark",
        "value": "42", "out_of": 50}}])
    parent = system.activate(parent_email)
    fault("activated")
    link = wait_for(lambda: system.call("linking", "get", "/api/v1/links", parent)
                    .json["items"], timeout=120, interval=0.2, message="the parent's link")[0]
    verified = system.call("linking", "post", f"/api/v1/links/{link['id']}/verify", parent,
                           {"date_of_birth": "2015-03-02"})
    assert verified.status_code == 200, verified.json
    student_id = link["student"]["id"]
    wait_for(lambda: _sql(system, "reports", "SELECT count(*) FROM parent_access WHERE "
                          "student_id = :s AND verified", s=student_id)
             and _sql(system, "notifications", "SELECT count(*) FROM verified_links WHERE "
                      "link_id = :l", l=link["id"])
             and _sql(system, "reports", "SELECT count(*) FROM attainment WHERE "
                      "student_id = :s", s=student_id),
             timeout=120, interval=0.2, message="the verified link and marks downstream")
    fault("verified")
    published = system.call("reports", "post", "/api/v1/reports/publish", admin,
                            {"period": PERIOD, "title": "Autumn report"})
    assert published.status_code == 202 and published.json["published"] == 1
    wait_for(lambda: any(parent_email in p.read_text(errors="replace")
                         and "report" in p.read_text(errors="replace").lower()
                         for p in (system.settings.data_dir / "mail").glob("*.eml")),
             timeout=120, interval=0.2, message="the report email")
    listed = system.call("reports", "get", f"/api/v1/students/{student_id}/reports", parent)
    report = system.call("reports", "get", f"/api/v1/reports/{listed.json['items'][0]['id']}",
                         parent).json
    assert report["subjects"][0]["attainment"][0]["value"] == "42"
    fault("read")
    filed = system.call("dsar", "post", "/api/v1/subject-requests", admin, {
        "kind": "erasure", "subject": {"type": "student", "source_id": "S1"}})
    assert filed.status_code == 201, filed.json

    def completed():
        view = system.call("dsar", "get", f"/api/v1/subject-requests/{filed.json['id']}",
                           admin).json
        return view["status"] == "completed" and set(view["services"].values()) == {"done"}
    wait_for(completed, timeout=180, interval=0.3, message="the erasure completed everywhere")
    assert system.call("reports", "get", f"/api/v1/students/{student_id}/reports",
                       parent).status_code == 404


def assert_nothing_lost_nothing_twice(system) -> None:
    """Every event any service published is in the inbox of every service it is routed
    to; applied counters (this test's queues) equal inbox rows; no dead letters."""
    published: dict[str, set[str]] = {s: set() for s in SERVICES}
    for producer in SERVICES:
        for event_id, event_type, _routing_key in _rows(
                system, producer, "SELECT event_id, event_type, routing_key FROM outbox"):
            contract = contracts.latest(event_type)
            for consumer in topology.consumers_of(contract):
                published[consumer].add(event_id)

    def all_arrived():
        return all(published[s] <= {r[0] for r in _rows(system, s, "SELECT event_id FROM inbox")}
                   for s in SERVICES)
    wait_for(all_arrived, timeout=120, interval=0.3, message="every event in every inbox")
    prefix = system.settings.queue_prefix
    applied = sum(sample.value for family in metrics.CONSUMED.collect()
                  for sample in family.samples
                  if sample.name.endswith("_total") and sample.labels["outcome"] == "applied"
                  and sample.labels["queue"].startswith(prefix))
    inbox = sum(_sql(system, s, "SELECT count(*) FROM inbox") for s in SERVICES)
    assert applied == inbox, "an event was applied twice (or applied without its inbox row)"
    for service in SERVICES:
        assert _sql(system, service, "SELECT count(*) FROM dead_letters") == 0, service


def _run(system, fault) -> None:
    try:
        journey(system, fault)
        assert_nothing_lost_nothing_twice(system)
    finally:
        system.close()


def test_the_journey_survives_the_broker_killed_and_restarted(broker_settings, tmp_path,
                                                                new_database, own_broker):
    settings = replace(broker_settings, broker_url=own_broker.url)
    system = RealSystem(settings, tmp_path, new_database, list(SERVICES))

    def fault(stage):
        if stage == "pushed":
            own_broker.kill()  # SIGKILL: no goodbye to any connection
            own_broker.restart()
        if stage == "verified":
            own_broker.kill()
            own_broker.restart()
    _run(system, fault)


def test_the_journey_survives_a_services_broker_connection_cut(broker_settings, tmp_path,
                                                                 new_database):
    broker = urlsplit(broker_settings.broker_url)
    proxy = TcpProxy(broker.hostname, broker.port or 5672)
    via_proxy = re.sub(r"@[^/]+/", f"@127.0.0.1:{proxy.port}/", broker_settings.broker_url)
    system = RealSystem(broker_settings, tmp_path, new_database, list(SERVICES),
                        overrides={"linking": {"broker_url": via_proxy}})

    def fault(stage):
        if stage == "pushed":
            proxy.cut()  # linking alone loses the broker while the parent activates
        if stage == "activated":
            proxy.restore()
    try:
        _run(system, fault)
    finally:
        proxy.close()


def test_the_journey_survives_a_database_restarted_under_a_service(
        broker_settings, tmp_path, new_database, own_postgres):
    system = RealSystem(broker_settings, tmp_path, new_database, list(SERVICES),
                        overrides={"reports": {"database_url": own_postgres.database(
                            f"reports_{uuid.uuid4().hex[:6]}")}})

    def fault(stage):
        if stage in ("pushed", "read"):
            own_postgres.restart()  # every connection of reports ends
    _run(system, fault)
