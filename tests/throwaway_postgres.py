"""A PostgreSQL server of the test's own (initdb + pg_ctl on a free port, its own folder),
that the test may stop, restart or kill. The machine's shared server is never touched.

As root the server runs as the `postgres` user (initdb refuses root); its folder is
chowned to it. Trust authentication on 127.0.0.1 only.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else name


def available() -> bool:
    return Path(_bin("initdb")).exists()


class ThrowawayPostgres:
    def __init__(self):
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="pp-pg-"))
        self.data = self.folder / "data"
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
                  "-c fsync=off", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every connection (a restart under the services); `immediate` is a
        crash without shutdown."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def database(self, name: str) -> str:
        import psycopg
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "ThrowawayPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.destroy()
