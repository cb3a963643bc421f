"""PostgreSQL servers of the test's own (initdb + pg_ctl on free ports, their own folders),
that the test may stop, restart or kill. The machine's shared server is never touched.

`ThrowawayPostgres` is one server. `ThrowawayPair` is a primary and a streaming standby
made from it with pg_basebackup, synchronous replication on (a commit returns once the
standby has the WAL), which the test may kill (the primary's whole process group, SIGKILL:
a lost machine) and promote; its URLs name both hosts with
`target_session_attrs=read-write`, as a production deployment's would.

As root the servers run as the `postgres` user (initdb refuses root); their folders are
chowned to it. Trust authentication on 127.0.0.1 only.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.support import free_port, wait_for


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else name


def available() -> bool:
    return Path(_bin("initdb")).exists()


class ThrowawayPostgres:
    def __init__(self, options: str = ""):
        """`options`: more `-c name=value` settings for this server's command line only
        (a copy made of its data folder does not inherit them)."""
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="pp-pg-"))
        self.data = self.folder / "data"
        self.options = options
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            user = pwd.getpwnam("postgres")
            os.chmod(self.folder, 0o755)
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        command = list(argv)
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> "ThrowawayPostgres":
        if not self.data.exists():
            self._run(_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                      "--no-sync")
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "-l",
                  str(self.folder / "log"), "-o",
                  f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
                  f"-c fsync=off {self.options}", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every connection (a restart under the services); `immediate` is a
        crash without shutdown."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend at once, as when its machine is lost:
        no connection is told, nothing is flushed. (pg_ctl starts the postmaster in a
        session of its own, so its process group is the server's processes only.)"""
        pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        assert os.getpgid(pid) == pid, "the postmaster leads its own process group"
        os.killpg(pid, signal.SIGKILL)
        wait_for(lambda: not _alive(pid), timeout=30, message="the killed server gone")

    def promote(self) -> None:
        """A standby becomes a primary (and takes writes) once this returns."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "promote")

    def query(self, sql: str):
        import psycopg
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres",
                             autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def database(self, name: str) -> str:
        self.query(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "ThrowawayPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.destroy()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by its parent) is gone for every purpose here.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


class ThrowawayPair:
    """A primary and a synchronous streaming standby (pg_basebackup of the primary)."""

    def __init__(self):
        # Synchronous replication is the primary's own setting, on its command line: the
        # standby, once promoted, has no standby of its own and must not wait for one.
        self.primary = ThrowawayPostgres("-c synchronous_standby_names='*' "
                                         "-c synchronous_commit=on")
        self.standby = ThrowawayPostgres()

    def start(self) -> "ThrowawayPair":
        self.primary.start()
        # -R writes standby.signal and primary_conninfo; -X stream copies the WAL too.
        self.standby._run(_bin("pg_basebackup"), "-D", str(self.standby.data), "-h",
                          "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres",
                          "-X", "stream", "-R", "--no-sync", "-c", "fast")
        self.standby.start()
        wait_for(lambda: self.primary.query(
            "SELECT 1 FROM pg_stat_replication WHERE sync_state = 'sync' "
            "AND state = 'streaming'"), timeout=60, interval=0.1,
            message="the standby streaming synchronously")
        return self

    def url(self, database: str = "postgres") -> str:
        """Both hosts, primary first; libpq connects to whichever takes writes."""
        hosts = "&".join(f"host=127.0.0.1:{s.port}" for s in (self.primary, self.standby))
        return (f"postgresql+psycopg://postgres@/{database}?{hosts}"
                "&target_session_attrs=read-write")

    def database(self, label: str = "db") -> str:
        """A new database on the primary (replicated synchronously), by its two-host URL."""
        import uuid
        name = f"pp_test_{label}_{uuid.uuid4().hex[:10]}"
        self.primary.query(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        self.standby.destroy()
        self.primary.destroy()

    def __enter__(self) -> "ThrowawayPair":
        try:
            return self.start()
        except BaseException:
            self.destroy()
            raise

    def __exit__(self, *exc) -> None:
        self.destroy()
