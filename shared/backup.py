"""A backup of every service's database, as one set with a manifest (docs/operations.md,
"Backups and restores"):

    python -m shared.backup /backups/2026-12-05T0200

`pg_dump -Fc` of each service's database (PP_<SERVICE>_DATABASE_URL, as the services read
them), taken while the system runs, and `manifest.json` written last (a folder without it is
not a finished backup): when the backup began and the erasure ledger's mark at that moment,
so a restore knows which erasures the set may not hold (shared/restore.py).
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from shared.config import SERVICES, Settings
from shared.db import utcnow
from shared.erasure_ledger import ledger_from_url
from shared.logging_setup import configure_logging

log = logging.getLogger("pp.backup")
MANIFEST = "manifest.json"


def pg_tool(name: str) -> str:
    """Debian's newest PostgreSQL binaries first (a pg_dump must not be older than the
    server), else the one on PATH."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else (shutil.which(name) or name)


def libpq(service: str, url: str) -> tuple[str, dict[str, str]]:
    """The database's URL as libpq takes it, without its password, and the environment
    carrying the password (never on a command line others can read)."""
    parsed = sa.make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        raise SystemExit(f"{service}: only PostgreSQL databases are backed up this way "
                         f"(embedded mode's SQLite files: copy PP_DATA_DIR while stopped)")
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(argv: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{Path(argv[0]).name} failed: {result.stderr.strip()[-2000:]}")


def backup(settings: Settings, folder: Path) -> dict[str, Any]:
    """Dump every service's database into `folder`; the manifest last."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / MANIFEST).exists():
        raise SystemExit(f"{folder} holds a backup already")
    ledger = ledger_from_url(settings.erasure_ledger_url)
    # The mark is read before the first dump begins: an erasure completed at or below it
    # was committed in every service before any dump's snapshot.
    mark = ledger.mark() if ledger else None
    if ledger is None:
        log.warning("no erasure ledger (PP_ERASURE_LEDGER_URL): a restore of this backup "
                    "must be given the time to re-apply erasures from")
    else:
        ledger.dispose()
    started = utcnow()
    files = {}
    for service in SERVICES:
        url, env = libpq(service, settings.database_url(service))
        target = folder / f"{service}.dump"
        _run([pg_tool("pg_dump"), "--format=custom", "--file", str(target), "--dbname", url],
             env)
        files[service] = target.name
        log.info("dumped service=%s bytes=%d", service, target.stat().st_size)
    manifest = {"started_at": started.isoformat(), "ledger_mark": mark,
                "finished_at": utcnow().isoformat(), "services": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.exists():
        raise SystemExit(f"{folder} has no {MANIFEST}: not a finished backup")
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def restore_databases(settings: Settings, folder: Path) -> None:
    """Every service's database back to the backup (the services stopped): each dump
    replaces what its database holds, in one transaction per database."""
    manifest = read_manifest(folder)
    for service, name in manifest["services"].items():
        url, env = libpq(service, settings.database_url(service))
        _run([pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner",
              "--single-transaction", "--exit-on-error", "--dbname", url,
              str(folder / name)], env)
        log.info("restored service=%s", service)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.backup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a new folder for this backup")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format, "backup")
    manifest = backup(settings, args.folder)
    json.dump(manifest, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
