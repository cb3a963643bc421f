"""A RabbitMQ node of the test's own, on its own port, name and data folder, that the test
may cut off or kill. The machine's shared broker is never touched (DEVELOPERS.md).

As root the node runs as the `rabbitmq` user (its data folder is chowned to it); otherwise
as the current user. Its Erlang cookie lives in its own folder, so `rabbitmqctl` reaches
only this node.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.support import free_port, wait_for

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


def available() -> bool:
    return (RABBIT_BIN / "rabbitmq-server").exists()


class ThrowawayBroker:
    def __init__(self, cookie: str | None = None, config: str = ""):
        """`cookie`: the Erlang cookie (nodes of one cluster share it; default: a cookie of
        the node's own); `config`: rabbitmq.conf lines (tests/throwaway_cluster.py)."""
        self.name = f"pptest{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="pp-rabbit-"))
        self.as_rabbitmq = os.geteuid() == 0
        (self.folder / "rabbitmq.conf").write_text(config)
        if cookie is not None:
            cookie_file = self.folder / ".erlang.cookie"
            cookie_file.write_text(cookie)
            os.chmod(cookie_file, 0o400)
        if self.as_rabbitmq:
            user = pwd.getpwnam("rabbitmq")
            os.chmod(self.folder, 0o755)
            for path in (self.folder, *self.folder.iterdir()):
                os.chown(path, user.pw_uid, user.pw_gid)
        self.process: subprocess.Popen | None = None
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        # The Erlang distribution's tick (the node and its rabbitmqctl alike), in seconds,
        # when not Erlang's 60; read at each start. A quorum queue's commands (a consume
        # among them) time out after net_ticktime + 5 s (rabbit_fifo_client).
        self.net_ticktime: int | None = None

    def _command(self, *argv: str) -> list[str]:
        env = [f"HOME={self.folder}", f"RABBITMQ_NODENAME={self.name}",
               "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1", f"RABBITMQ_NODE_PORT={self.port}",
               f"RABBITMQ_DIST_PORT={self.dist_port}",
               f"RABBITMQ_MNESIA_BASE={self.folder}/mnesia",
               f"RABBITMQ_LOG_BASE={self.folder}/log",
               f"RABBITMQ_CONFIG_FILE={self.folder}/rabbitmq.conf",
               f"RABBITMQ_ADVANCED_CONFIG_FILE={self.folder}/none-advanced.config",
               f"RABBITMQ_ENABLED_PLUGINS_FILE={self.folder}/plugins",
               f"RABBITMQ_PID_FILE={self.folder}/pid"]
        if self.net_ticktime is not None:
            tick = f"-kernel net_ticktime {self.net_ticktime}"
            env += [f"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS={tick}",
                    f"RABBITMQ_CTL_ERL_ARGS={tick}"]
        prefix = ["runuser", "-u", "rabbitmq", "--"] if self.as_rabbitmq else []
        return [*prefix, "env", *env, *argv]

    def start(self, timeout: float = 90) -> "ThrowawayBroker":
        log = open(self.folder / "server.out", "ab")
        self.process = subprocess.Popen(self._command(str(RABBIT_BIN / "rabbitmq-server")),
                                        stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        wait_for(self._accepts_amqp, timeout=timeout, interval=0.2,
                 message=f"throwaway broker {self.name} to accept connections")
        return self

    def _accepts_amqp(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"throwaway broker exited; see {self.folder}/server.out")
        from kombu import Connection
        try:
            with Connection(self.url, connect_timeout=1) as conn:
                conn.ensure_connection(max_retries=1, timeout=1)
                conn.channel()  # a channel opens only once the node has fully booted
            return True
        except Exception:
            return False

    def ctl(self, *args: str, timeout: float = 60) -> str:
        return subprocess.run(self._command(str(RABBIT_BIN / "rabbitmqctl"), "-n", self.name,
                                            *args),
                              capture_output=True, text=True, check=True,
                              timeout=timeout).stdout

    def close_all_connections(self) -> None:
        self.ctl("close_all_connections", "test: connections force-closed")

    def kill(self, settled: bool = True) -> None:
        """SIGKILL the node (no clean shutdown), as a crashed broker would go; `settled`:
        once every quorum queue it has would survive that (see quorum_queues_on_disk)."""
        if self.process is None:
            return
        if settled:
            wait_for(self.quorum_queues_on_disk, timeout=30, interval=0.2,
                     message=f"{self.name} to write its quorum queues' Ra registry")
        self._sigkill()

    def quorum_queues_on_disk(self) -> bool:
        """Whether every quorum queue's Ra server on this node is in the node's Ra names
        registry on disk (`quorum/<node>/names.dets`).

        RabbitMQ 3.10 (Ra 2.2) makes a new quorum queue's server folder (`<uid>/config`)
        before it answers the declare, but writes the server into the registry only at the
        registry's next auto-save, ~1 s later. A node killed in between comes back with the
        queue in its metadata and no server behind it: every consume and publish of that
        queue fails until it is deleted (docs/operations.md, "A queue lost in a
        broker crash"; tests/integration/test_lost_queue_real.py). The other tests kill a
        broker to show that nothing is lost over a crash, not to lose that window."""
        folder = self.folder / "mnesia" / self.name / "quorum" / self.name
        registry = folder / "names.dets"
        servers = [p.parent.name for p in folder.glob("*/config")]
        try:
            on_disk = registry.read_bytes()
        except FileNotFoundError:
            return not servers
        return all(uid.encode() in on_disk for uid in servers)

    def _sigkill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None
        wait_for(lambda: not self._node_registered(), timeout=30,
                 message="killed node to leave epmd")

    def _node_registered(self) -> bool:
        short = self.name.split("@")[0]
        try:
            names = subprocess.run(["epmd", "-names"], capture_output=True, text=True,
                                   timeout=10).stdout
        except (FileNotFoundError, subprocess.TimeoutExpired):
            return False
        return f"name {short} " in names

    def restart(self) -> None:
        self.kill()
        self.start()

    def destroy(self) -> None:
        try:
            self.kill(settled=False)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "ThrowawayBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.destroy()
