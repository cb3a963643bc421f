"""A RabbitMQ cluster of the test's own: three throwaway nodes (tests/throwaway_broker.py),
each on its own AMQP port, dist port, node name and data folder, sharing one Erlang cookie,
joined into one cluster. The machine's shared broker is never touched.

The nodes run with `cluster_partition_handling = pause_minority`, as docs/operations.md
asks of a production cluster: a node cut off from the other two stops serving (its clients
move to the majority) and resumes once it reaches them again.
"""
from __future__ import annotations

import json
import threading
import time
import uuid

from tests.support import wait_for
from tests.throwaway_broker import ThrowawayBroker

CONFIG = "cluster_partition_handling = pause_minority\n"
# Deadline for a cluster to settle after a fault (nodes paused, leaders elected, a node
# back): ample on a 2-core machine shared with other test runs; a healthy run takes seconds.
LOADED = 240.0


class ThrowawayCluster:
    def __init__(self, size: int = 3):
        self.cookie = uuid.uuid4().hex.upper()
        self.nodes = [ThrowawayBroker(cookie=self.cookie, config=CONFIG) for _ in range(size)]

    @property
    def url(self) -> str:
        """Every node, as services are given a cluster (`;`-separated kombu failover)."""
        return ";".join(node.url for node in self.nodes)

    def start(self, timeout: float = 120) -> "ThrowawayCluster":
        errors: list[BaseException] = []

        def boot(node: ThrowawayBroker) -> None:
            try:
                node.start(timeout=timeout)
            except BaseException as exc:  # re-raised below, in the test's thread
                errors.append(exc)
        threads = [threading.Thread(target=boot, args=(n,)) for n in self.nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", first.name)
            node.ctl("start_app")
        self.wait_running(self.nodes, timeout=timeout)
        return self

    def other(self, *nodes: ThrowawayBroker) -> ThrowawayBroker:
        return next(n for n in self.nodes if n not in nodes and n.process is not None)

    def running(self, asked: ThrowawayBroker) -> set[str]:
        """The nodes `asked` sees running in its cluster."""
        status = json.loads(asked.ctl("cluster_status", "--formatter", "json"))
        return set(status.get("running_nodes", []))

    def wait_running(self, nodes, timeout: float = LOADED) -> None:
        names = {n.name for n in nodes}
        asked = nodes[0]
        wait_for(lambda: self._try(lambda: self.running(asked) == names), timeout=timeout,
                 interval=0.5, message=f"the cluster to run {sorted(names)}")

    @staticmethod
    def _try(check) -> bool:
        try:
            return bool(check())
        except Exception:  # the CLI fails while a node boots or pauses
            return False

    def quorum_queues(self, prefix: str, asked: ThrowawayBroker | None = None) -> dict:
        """name -> {leader, members, online} of the quorum queues whose names start with
        `prefix`."""
        asked = asked or self.other()
        rows = json.loads(asked.ctl("list_queues", "-q", "--formatter", "json", "name",
                                    "type", "leader", "members", "online"))
        return {r["name"]: r for r in rows
                if r["name"].startswith(prefix) and r["type"] == "quorum"}

    def leader_node(self, prefix: str) -> ThrowawayBroker:
        """The node that leads most of these queues."""
        leaders = [q["leader"] for q in self.quorum_queues(prefix).values()]
        return max(self.nodes, key=lambda n: leaders.count(n.name))

    def clients_node(self) -> ThrowawayBroker:
        """The node most client connections are on."""
        rows = json.loads(self.other().ctl("list_connections", "-q", "--formatter", "json",
                                           "port"))
        ports = [row["port"] for row in rows]
        return max(self.nodes, key=lambda n: ports.count(n.port))

    def wait_replicated(self, prefix: str, timeout: float = LOADED) -> dict:
        """Until every such queue has every node as an online member."""
        names = sorted(n.name for n in self.nodes)

        def replicated():
            queues = self.quorum_queues(prefix)
            return queues if queues and all(
                sorted(q["members"]) == names and sorted(q["online"]) == names
                for q in queues.values()) else None
        return wait_for(lambda: self._try(replicated) and replicated(), timeout=timeout,
                        interval=0.5, message="every quorum queue on every node")

    # --- faults -------------------------------------------------------------------------
    def restart(self, node: ThrowawayBroker, timeout: float = LOADED) -> float:
        """Start a killed node again, from its data folder; returns the seconds until the
        cluster runs it again."""
        began = time.monotonic()
        node.start(timeout=timeout)
        self.wait_running(self.nodes, timeout=timeout)
        return time.monotonic() - began

    def partition(self, node: ThrowawayBroker) -> None:
        """Cut `node` off from the others: it presents a cookie they reject (and rejects
        theirs), and drops its links to them. The CLI still reaches it (default cookie)."""
        self._eval(node, "erlang:set_cookie(N, pp_partitioned), erlang:disconnect_node(N)")

    def heal(self, node: ThrowawayBroker) -> None:
        self._eval(node, "erlang:set_cookie(N, erlang:get_cookie()), net_adm:ping(N)")

    def _eval(self, node: ThrowawayBroker, each: str, timeout: float = LOADED) -> None:
        """Run `each` on `node` for every other node. Idempotent, so tried again until it
        answers: on a loaded machine, the CLI reaching a node busy pausing or resuming can
        outlast one call's time limit (once in five runs on a shared 2-core machine)."""
        others = ", ".join(f"'{n.name}'" for n in self.nodes if n is not node)
        command = f"[begin {each} end || N <- [{others}]], ok."
        wait_for(lambda: self._try(lambda: node.ctl("eval", command, timeout=30) or True),
                 timeout=timeout, interval=1.0, message=f"rabbitmqctl eval on {node.name}")

    def destroy(self) -> None:
        for node in self.nodes:
            try:
                node.destroy()
            except Exception:  # every node goes, whatever one of them does
                pass

    def __enter__(self) -> "ThrowawayCluster":
        try:
            return self.start()
        except BaseException:
            self.destroy()
            raise

    def __exit__(self, *exc) -> None:
        self.destroy()
