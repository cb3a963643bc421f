"""Every service on a three-node RabbitMQ cluster of the test's own (tests/throwaway_cluster.py),
given all three nodes (PP_BROKER_URL, `;`-separated: kombu's failover). Quorum queues
replicate to the three. During a term push and an erasure, the node leading the queues is
SIGKILLed (then comes back and rejoins), and later cut off from the other two (a network
partition; it pauses, as pause_minority says, and rejoins once healed). Each time the term
and the erasure complete, every event is in every consumer's inbox once, nothing is
dead-lettered, and the test prints how long consumers and relays took to move."""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace

import pytest

from shared.config import SERVICES
from tests.integration.test_journey_faults_real import _sql, assert_nothing_lost_nothing_twice
from tests.support import wait_for
from tests.system import RealSystem, student
from tests.throwaway_cluster import LOADED

pytestmark = pytest.mark.integration
STUDENTS = 30
PERIOD = "Summer 2026"


@pytest.fixture(scope="module")
def world(own_cluster, module_settings, module_database, tmp_path_factory):
    settings = replace(module_settings, broker_url=own_cluster.url)
    system = RealSystem(settings, tmp_path_factory.mktemp("cluster"), module_database,
                        list(SERVICES))
    try:
        yield system
    finally:
        system.close()


class MoveClock:
    """From a fault on: when each consumer consumed again after losing its node, and when
    each relay had published again on a new connection (polled every 20 ms)."""

    def __init__(self, system: RealSystem):
        self.system = system
        self.before = {key: count for key, count, _ in self._sample()}
        self.moved: dict[str, float] = {}
        self.began = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _sample(self):
        prefix = self.system.settings.queue_prefix
        for name, runtime in self.system.runtimes.items():
            for worker in runtime.queue_workers:
                yield (f"{name} consumer of {worker.queue.name.removeprefix(prefix)}",
                       worker.reconnects, worker.connected.is_set())
            yield f"{name} relay", runtime.relay.publisher.connects, True

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            now = time.monotonic()
            for key, count, up in self._sample():
                if key not in self.moved and up and count > self.before[key]:
                    self.moved[key] = now - self.began

    def report(self, fault: str) -> dict[str, float]:
        self._stop.set()
        self._thread.join(timeout=5)
        print(f"\n{fault}: seconds from the fault until each consumer and relay moved")
        for key in sorted(self.before):
            moved = self.moved.get(key)
            print(f"  {key:47} {'%.2f' % moved if moved is not None else '-'}")
        print("  (-: its connection was not on the node lost, or it had nothing to publish)")
        return self.moved


def _term_and_erasure(system: RealSystem, fault, heal) -> MoveClock:
    """A school's roster, then a term of marks pushed in four batches and one student's
    erasure filed; `fault()` strikes after the first batch, before the erasure is filed,
    `heal()` after the third batch. Waits until the term and the erasure completed everywhere."""
    school, system_token = system.school(f"Cluster School {uuid.uuid4().hex[:4]}")
    admin = system.admin(school, f"head-{uuid.uuid4().hex[:6]}@hill.example")
    sources = [f"S{i}" for i in range(STUDENTS + 1)]  # S0 is erased and has no marks
    system.push(system_token, [student(s) for s in sources] + [
        {"type": "staff.upserted", "source_id": "T1", "data": {
            "title": "Ms", "given_name": "Jo", "family_name": "Khan"}},
        {"type": "class.upserted", "source_id": "C1", "data": {
            "name": "9A Maths", "subject": "Maths", "teacher_ids": ["T1"],
            "student_ids": sources}}])
    wait_for(lambda: _sql(system, "reports", "SELECT count(*) FROM students WHERE "
                          "school_id = :s", s=school) == len(sources), timeout=LOADED,
             interval=0.2, message="the roster in reports")
    marks = [{"type": "attainment.recorded", "source_id": f"A{s}", "data": {
        "student_id": s, "class_id": "C1", "period": PERIOD, "kind": "mark",
        "value": str(20 + i), "out_of": 50}} for i, s in enumerate(sources[1:])]
    batches = [marks[i::4] for i in range(4)]
    system.push(system_token, batches[0])
    clock = MoveClock(system)
    fault()
    filed = system.call("dsar", "post", "/api/v1/subject-requests", admin, {
        "kind": "erasure", "subject": {"type": "student", "source_id": "S0"}})
    assert filed.status_code == 201, filed.json
    for index, batch in enumerate(batches[1:], start=1):
        system.push(system_token, batch)  # ingest answers 202 whatever the broker does
        if index == 2:
            heal()

    def erased():
        view = system.call("dsar", "get", f"/api/v1/subject-requests/{filed.json['id']}",
                           admin).json
        return view["status"] == "completed" and set(view["services"].values()) == {"done"}
    wait_for(erased, timeout=LOADED, interval=0.3, message="the erasure completed everywhere")
    wait_for(lambda: _sql(system, "reports", "SELECT count(*) FROM attainment WHERE "
                          "school_id = :s AND period = :p", s=school, p=PERIOD) == STUDENTS,
             timeout=LOADED, interval=0.3, message="the whole term's marks in reports")
    assert _sql(system, "reports", "SELECT count(*) FROM students WHERE school_id = :s",
                s=school) == STUDENTS  # S0 is gone
    return clock


def _consumers_back(system: RealSystem) -> None:
    wait_for(lambda: all(w.connected.is_set() for r in system.runtimes.values()
                         for w in r.queue_workers), timeout=LOADED,
             message="every consumer back")


def test_every_service_is_given_every_node_and_quorum_queues_replicate_to_all_three(
        own_cluster, world):
    nodes = [node.url for node in own_cluster.nodes]
    for runtime in world.runtimes.values():
        assert runtime.settings.broker_urls == nodes
    queues = own_cluster.wait_replicated(world.settings.queue_prefix)
    consumed = {w.queue.name for r in world.runtimes.values() for w in r.queue_workers}
    assert consumed <= set(queues)
    names = sorted(node.name for node in own_cluster.nodes)
    for queue in queues.values():
        assert sorted(queue["members"]) == names and queue["leader"] in names


def test_the_node_leading_the_queues_is_killed_during_a_term_and_an_erasure_then_rejoins(
        own_cluster, world):
    prefix = world.settings.queue_prefix
    own_cluster.wait_replicated(prefix)
    leader = own_cluster.leader_node(prefix)
    leading = sum(q["leader"] == leader.name
                  for q in own_cluster.quorum_queues(prefix).values())
    print(f"\nkilling {leader.name}, leader of {leading} queues")

    def fault():
        leader.kill()  # SIGKILL: no goodbye to any connection or queue member
    clock = _term_and_erasure(world, fault, heal=lambda: None)
    assert_nothing_lost_nothing_twice(world)
    _consumers_back(world)
    moved = clock.report(f"SIGKILL of {leader.name}")
    assert moved, "nothing moved off the killed node"
    assert all(q["leader"] != leader.name  # the other two lead every queue now
               for q in own_cluster.quorum_queues(prefix).values())
    seconds = own_cluster.restart(leader)
    own_cluster.wait_replicated(prefix)  # the node is a member again, and in sync
    print(f"{leader.name} back in the cluster after {seconds:.2f}s")


def test_the_node_the_services_are_on_is_cut_off_during_a_term_and_an_erasure_then_rejoins(
        own_cluster, world):
    """A network partition of one node: the node the services are connected to is cut off
    from the other two (not from the services), pauses (pause_minority), and rejoins once
    the partition heals."""
    prefix = world.settings.queue_prefix
    own_cluster.wait_replicated(prefix)
    cut = own_cluster.clients_node()
    leading = sum(q["leader"] == cut.name for q in own_cluster.quorum_queues(prefix).values())
    print(f"\ncutting off {cut.name}, the services' node, leader of {leading} queues")
    rest = [node for node in own_cluster.nodes if node is not cut]
    healed: list[float] = []

    def heal():
        # Each step waits for its condition, up to a deadline a loaded machine meets.
        own_cluster.wait_running(rest)  # the majority saw it gone ...
        wait_for(lambda: not cut._accepts_amqp(), timeout=LOADED, interval=0.5,
                 message=f"{cut.name} paused")  # ... and it stopped serving
        wait_for(lambda: own_cluster._try(lambda: all(  # the majority leads every queue
            q["leader"] != cut.name
            for q in own_cluster.quorum_queues(prefix, rest[0]).values())),
            timeout=LOADED, interval=0.5, message="the majority to lead every queue")
        began = time.monotonic()
        own_cluster.heal(cut)
        own_cluster.wait_running(own_cluster.nodes)
        healed.append(time.monotonic() - began)
    clock = _term_and_erasure(world, lambda: own_cluster.partition(cut), heal)
    assert_nothing_lost_nothing_twice(world)
    _consumers_back(world)
    moved = clock.report(f"partition of {cut.name}")
    assert any(key.endswith(("data", "rights")) for key in moved), "no consumer moved"
    own_cluster.wait_replicated(prefix)  # a member again, and in sync
    print(f"{cut.name} back in the cluster {healed[0]:.2f}s after the partition healed")
