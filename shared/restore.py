"""Restoring a backup without bringing anyone back (docs/operations.md, "Restoring a
backup"). With every web process and worker stopped:

    python -m shared.restore /backups/2026-12-05T0200
        every service's database back to that backup (shared/backup.py), then every
        erasure the backup does not hold filed again and carried out to completion
    python -m shared.restore --erasures-since 2026-12-05T01:55:00Z
        the databases were recovered another way (point-in-time recovery to that moment):
        only the erasures not completed before it

Which erasures: the erasure ledger's (PP_ERASURE_LEDGER_URL, shared/erasure_ledger.py),
which the restore never rolls back. How: the system itself, every service in this one
process on the restored databases with kombu's in-memory broker (embedded mode's wiring,
no gateway, nothing served), dsar filing one erasure per subject as the school would
(`details.replay_of`: the requests it stands for); the command returns once each has
completed everywhere and every outbox and queue is drained. It prints what it did (ids
only) and exits 1 if any did not complete: then do not start the system.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any


from shared.backup import read_manifest, restore_databases
from shared.config import Settings
from shared.db import transaction
from shared.erasure_ledger import ErasureLedger, Owed
from shared.logging_setup import configure_logging

log = logging.getLogger("pp.restore")
FINISHED = ("completed", "failed", "refused")


def owed_erasures(settings: Settings, mark: int | None,
                  since: dt.datetime | None) -> list[Owed]:
    if not settings.erasure_ledger_url:
        raise SystemExit("PP_ERASURE_LEDGER_URL is not set: without the erasure ledger a "
                         "restore cannot know which erasures to carry out again")
    ledger = ErasureLedger(settings.erasure_ledger_url)
    try:
        return ledger.owed(mark=mark, since=since)
    finally:
        ledger.dispose()


def reapply(settings: Settings, owed: list[Owed], timeout: float = 600.0) -> list[dict[str, Any]]:
    """File each owed erasure in dsar and run the whole system, in this process and on
    the in-memory broker, until each has finished and nothing is left in flight."""
    if not owed:
        return []
    from shared.embedded import EmbeddedSystem, load_specs
    system = EmbeddedSystem(replace(settings, broker_url="memory://"), load_specs())
    system.start()
    try:
        context = system.runtimes["dsar"].context
        dsar = context.use_cases.dsar
        with transaction(context.sessions) as session:
            filed = [(o, dsar.file(session, o.school_id, "erasure", o.subject_type,
                                   o.subject_id, {"replay_of": list(o.request_ids)}, None,
                                   "school_admin", trusted=True)["id"]) for o in owed]
        views = _wait_finished(context.sessions, dsar, [i for _, i in filed], timeout)
        if not system.drain(timeout=timeout):
            log.warning("restore: the system did not drain within %ss", timeout)
    finally:
        system.stop()
    return [{"request_id": request_id, "status": views[request_id]["status"],
             "services": views[request_id]["services"],
             "subject": {"school_id": o.school_id, "type": o.subject_type,
                         "id": o.subject_id}, "replay_of": list(o.request_ids)}
            for o, request_id in filed]


def _wait_finished(sessions: Any, dsar: Any, ids: list[str],
                   timeout: float) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        with transaction(sessions) as session:
            views = {i: dsar.view(session, i) for i in ids}
        if all(v["status"] in FINISHED for v in views.values()) \
                or time.monotonic() > deadline:
            return views
        time.sleep(0.5)  # polling dsar's own table for the answers to arrive


def _parse_time(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give the time with its zone, e.g. ...Z")
    return moment.astimezone(dt.timezone.utc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.restore", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("backup", nargs="?", type=Path, help="a backup's folder")
    which.add_argument("--erasures-since", type=_parse_time, metavar="TIME",
                       help="databases recovered to TIME by other means: re-apply only")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format, "restore")
    if args.backup is not None:
        manifest = read_manifest(args.backup)
        mark, since = manifest["ledger_mark"], None
        if mark is None:
            since = _parse_time(manifest["started_at"])
        owed = owed_erasures(settings, mark, since)  # before touching anything
        restore_databases(settings, args.backup)
    else:
        owed = owed_erasures(settings, None, args.erasures_since)
    done = reapply(settings, owed, args.timeout)
    json.dump({"reapplied": done}, sys.stdout, indent=2, default=str)
    print()
    unfinished = [d["request_id"] for d in done if d["status"] != "completed"]
    if unfinished:
        log.error("restore: erasures not completed request_ids=%s: do not start the system",
                  ",".join(unfinished))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
