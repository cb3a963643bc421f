"""Restoring a backup without bringing anyone back (docs/operations.md, "Restoring a
backup"). With every web process and worker stopped:

    python -m shared.restore /backups/2026-12-05T0200
        every service's database back to that backup (shared/backup.py), then every
        erasure and every school offboarding the backup does not hold carried out again,
        to completion
    python -m shared.restore --erasures-since 2026-12-05T01:55:00Z
        the databases were recovered another way (point-in-time recovery to that moment):
        only the erasures and offboardings not completed before it

Which: the erasure ledger's (PP_ERASURE_LEDGER_URL, shared/erasure_ledger.py), which the
restore never rolls back. How: the system itself, every service in this one process on the
restored databases with kombu's in-memory broker (embedded mode's wiring, no gateway,
nothing served): dsar files one erasure per subject as the school would
(`details.replay_of`: the requests it stands for), then identity offboards each school
again (SchoolOffboarded, tracked by dsar as the first one was); the command returns once
each has completed everywhere and every outbox and queue is drained. It prints what it did
(ids only) and exits 1 if any did not complete: then do not start the system.
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

import sqlalchemy as sa

from shared.backup import read_manifest, restore_databases
from shared.config import Settings
from shared.db import transaction
from shared.erasure_ledger import COMPLETED, ErasureLedger, Owed, offboarding_request_id
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
    """Carry out each owed erasure and offboarding again, running the whole system in this
    process on the in-memory broker until each has finished and nothing is left in flight:
    the erasures filed in dsar, then the offboardings sent again by identity (an erased
    subject of a school offboarded since is erased first, as it was). Each that completes
    is marked completed in the ledger under the original requests' ids too, so a later
    backup's restore does not owe them any more."""
    if not owed:
        return []
    from shared.embedded import EmbeddedSystem, load_specs
    system = EmbeddedSystem(replace(settings, broker_url="memory://"), load_specs())
    system.start()
    try:
        replays, views = _replay(system, owed, timeout)
        if not system.drain(timeout=timeout):
            log.warning("restore: the system did not drain within %s s", timeout)
    finally:
        system.stop()
    done = [{"request_id": request_id, "kind": "offboarding" if o.offboarding else "erasure",
             "status": views[request_id]["status"], "services": views[request_id]["services"],
             "subject": {"school_id": o.school_id, "type": o.subject_type,
                         "id": o.subject_id}, "replay_of": list(o.request_ids)}
            for o, request_id in replays]
    _mark_completed(settings, [o for (o, _), d in zip(replays, done)
                               if d["status"] == "completed"])
    return done


def _replay(system: Any, owed: list[Owed], timeout: float
            ) -> tuple[list[tuple[Owed, str]], dict[str, dict[str, Any]]]:
    """(owed, the request carrying it out again) for each, and each request's view."""
    dsar_context = system.runtimes["dsar"].context
    dsar = dsar_context.use_cases.dsar
    identity_context = system.runtimes["identity"].context
    with transaction(dsar_context.sessions) as session:
        filed = [(o, dsar.file(session, o.school_id, "erasure", o.subject_type,
                               o.subject_id, {"replay_of": list(o.request_ids)}, None,
                               "school_admin", trusted=True)["id"])
                 for o in owed if not o.offboarding]
    views = _wait_finished(dsar_context.sessions, dsar, [i for _, i in filed], timeout)
    sent = []
    for o in (o for o in owed if o.offboarding):
        with transaction(identity_context.sessions) as session:
            event_id = identity_context.use_cases.identity.offboard_again(session,
                                                                          o.school_id)
        sent.append((o, offboarding_request_id(event_id)))
    views.update(_wait_finished(dsar_context.sessions, dsar, [i for _, i in sent], timeout))
    return [*filed, *sent], views


def _mark_completed(settings: Settings, replayed: list[Owed]) -> None:
    """The original requests whose replay completed: completed in the ledger now."""
    if not replayed or not settings.erasure_ledger_url:
        return
    ledger = ErasureLedger(settings.erasure_ledger_url)
    try:
        for o in replayed:
            for request_id in o.request_ids:
                ledger.record(COMPLETED, request_id, o.school_id, o.subject_type,
                              o.subject_id)
    finally:
        ledger.dispose()


def _wait_finished(sessions: Any, dsar: Any, ids: list[str],
                   timeout: float) -> dict[str, dict[str, Any]]:
    """Each request's view once all have finished (or the deadline passed); a request
    dsar has not heard of yet (an offboarding on its way) is pending."""
    deadline = time.monotonic() + timeout
    while True:
        with transaction(sessions) as session:
            views = {i: _view(session, dsar, i) for i in ids}
        if all(v["status"] in FINISHED for v in views.values()) \
                or time.monotonic() > deadline:
            return views
        time.sleep(0.5)  # polling dsar's own table for the answers to arrive


def _view(session: Any, dsar: Any, request_id: str) -> dict[str, Any]:
    try:
        view: dict[str, Any] = dsar.view(session, request_id)
    except sa.exc.NoResultFound:
        return {"status": "not_received", "services": {}}
    return view


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
