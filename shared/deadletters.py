"""Dead letters for operators: list, show, replay, purge (ids, types and reasons only).

    python -m shared.deadletters linking list
    python -m shared.deadletters linking show <id>
    python -m shared.deadletters linking replay <id> | --all
    python -m shared.deadletters linking purge <id> | --all

Replay puts the original event back on the service's own queue (through the default
exchange, so no other service sees it again); the worker applies it once, as ever. A letter
whose event carried a secret (an invitation or reset token) was stored without it and is
not replayed: its producer issues a new one (an admin resends the invitation).
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from kombu import Exchange

from shared.config import SERVICES, Settings
from shared.contracts import secrets_blanked
from shared.db import affected, among, utcnow
from shared.messaging.publisher import broker_connection, connect
from shared.tables import PlumbingTables

log = logging.getLogger(__name__)

SUMMARY = ("id", "event_id", "event_type", "queue", "reason", "attempts", "created_at",
           "replayed_at")


def _row(row: sa.Row[Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v)
            for k, v in row._mapping.items() if k in SUMMARY}


def list_letters(engine: Engine, tables: PlumbingTables,
                 include_replayed: bool = False) -> list[dict[str, Any]]:
    dl = tables.dead_letters
    query = sa.select(*(dl.c[c] for c in SUMMARY)).order_by(dl.c.created_at)
    if not include_replayed:
        query = query.where(dl.c.replayed_at.is_(None))
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(query)]


def show_letter(engine: Engine, tables: PlumbingTables,
                letter_id: str) -> dict[str, Any] | None:
    """One dead letter: its summary and the envelope's head, never the event's data."""
    dl = tables.dead_letters
    with engine.connect() as conn:
        row = conn.execute(sa.select(dl).where(dl.c.id == letter_id)).first()
    if row is None:
        return None
    out = _row(row)
    try:
        head = json.loads(row.payload or "")
        out["envelope"] = {k: head.get(k) for k in ("id", "type", "version", "producer",
                                                    "school_id", "correlation_id",
                                                    "occurred_at")}
        out["data_fields"] = sorted(head.get("data", {}))
    except (ValueError, AttributeError):
        out["envelope"] = None
    out["replayable"] = row.payload is not None and not secrets_blanked(row.payload)
    return out


def replay(engine: Engine, tables: PlumbingTables, settings: Settings,
           letter_ids: list[str] | None) -> int:
    """Publish letters back to their queue (confirmed), then mark them replayed."""
    dl = tables.dead_letters
    query = sa.select(dl.c.id, dl.c.queue, dl.c.payload).where(dl.c.replayed_at.is_(None))
    if letter_ids is not None:
        query = query.where(among(dl.c.id, letter_ids))
    conn_broker = broker_connection(settings.broker_url, confirm=True,
                                    name=f"{settings.queue_prefix}deadletters")
    replayed = 0
    try:
        connect(conn_broker)  # the first node of a cluster that answers
        producer = conn_broker.Producer(exchange=Exchange(""))  # default exchange: one queue
        with engine.begin() as conn:
            for row in conn.execute(query).all():
                if row.payload is None or secrets_blanked(row.payload):
                    log.warning("dead letter not replayable (its secret was not kept) "
                                "dead_letter_id=%s", row.id)
                    continue
                producer.publish(row.payload, routing_key=row.queue,
                                 content_type="application/json", content_encoding="utf-8",
                                 delivery_mode=2, retry=False)
                conn.execute(dl.update().where(dl.c.id == row.id)
                             .values(replayed_at=utcnow()))
                replayed += 1
    finally:
        conn_broker.release()
    return replayed


def erase_letters_naming(session: Session, dead_letters: sa.Table, subject_id: str,
                         school_id: str) -> int:
    """Deletes the dead letters that name an erased subject of this school: those holding
    an event of the school, or of no school, that names it. A subject's id may be the same
    at another school (a staff subject is the login's id), and a letter of that school's
    stays: it is not this erasure's to delete, and deleting it would lose an event that
    school is owed. A body that is not JSON cannot say whose it is and goes."""
    doomed = []
    for letter_id, payload in session.execute(sa.select(dead_letters.c.id,
                                                        dead_letters.c.payload).where(
            dead_letters.c.payload.like(f"%{subject_id}%"))).all():
        try:
            body = json.loads(payload)
        except ValueError:
            doomed.append(letter_id)
            continue
        events = body if isinstance(body, list) else [body]
        if any(not isinstance(event, dict) or (
                event.get("school_id") in (school_id, None)
                and subject_id in json.dumps(event)) for event in events):
            doomed.append(letter_id)
    if not doomed:
        return 0
    return affected(session.execute(
        dead_letters.delete().where(among(dead_letters.c.id, doomed))))


def purge(engine: Engine, tables: PlumbingTables, letter_ids: list[str] | None) -> int:
    dl = tables.dead_letters
    statement = dl.delete()
    if letter_ids is not None:
        statement = statement.where(among(dl.c.id, letter_ids))
    with engine.begin() as conn:
        return affected(conn.execute(statement))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.deadletters",
                                     description="A service's dead letters.")
    parser.add_argument("service", choices=SERVICES)
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list")
    listing.add_argument("--include-replayed", action="store_true")
    sub.add_parser("show").add_argument("id")
    for name in ("replay", "purge"):
        cmd = sub.add_parser(name)
        which = cmd.add_mutually_exclusive_group(required=True)
        which.add_argument("id", nargs="?")
        which.add_argument("--all", action="store_true")
    args = parser.parse_args(argv)

    from shared.db import make_engine
    settings = Settings.from_env()
    spec = importlib.import_module(f"services.{args.service}.app").SPEC
    engine = make_engine(settings.database_url(args.service))
    ids = None if getattr(args, "all", False) else [str(getattr(args, "id", ""))]
    if args.command == "list":
        result: Any = list_letters(engine, spec.tables, args.include_replayed)
    elif args.command == "show":
        result = show_letter(engine, spec.tables, args.id)
        if result is None:
            print(json.dumps({"error": "no such dead letter"}), file=sys.stderr)
            return 1
    elif args.command == "replay":
        result = {"replayed": replay(engine, spec.tables, settings, ids)}
    else:
        result = {"purged": purge(engine, spec.tables, ids)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
