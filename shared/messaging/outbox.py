"""Transactional outbox: an event is written in the same transaction as the state change.

A row's state is told by its columns (`OutboxState`): waiting until the broker confirms
it (the relay retries it with backoff), then sent, its payload kept for
PP_OUTBOX_RETENTION_SECONDS (a secret it carries blanked at once), then scrubbed (payload
NULL), and deleted a week later (shared/messaging/relay.py). No column holds the state: it
would be one more write of the busiest table, and could disagree with the columns.
"""
from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.db import utcnow
from shared.tables import PlumbingTables

from .envelope import Envelope, new_envelope


class OutboxState(StrEnum):
    """Where an outbox row is."""
    WAITING = "waiting"    # not confirmed by the broker yet (sent_at NULL): due at
                           # next_attempt_at, after `attempts` failures (last_error: why)
    SENT = "sent"          # confirmed (sent_at); its payload kept for the retention
    SCRUBBED = "scrubbed"  # sent, and its payload blanked (NULL)

    def rows(self, outbox: sa.Table) -> sa.ColumnElement[bool]:
        """The condition on `outbox`'s rows in this state."""
        if self is OutboxState.WAITING:
            return outbox.c.sent_at.is_(None)
        kept = outbox.c.payload.is_not(None) if self is OutboxState.SENT \
            else outbox.c.payload.is_(None)
        return sa.and_(confirmed(outbox), kept)


def confirmed(outbox: sa.Table) -> sa.ColumnElement[bool]:
    """The rows the broker confirmed, their payload kept or scrubbed: SENT or SCRUBBED
    (OutboxState.SENT alone is those whose payload is still kept)."""
    return outbox.c.sent_at.is_not(None)


class Outbox:
    def __init__(self, producer: str, tables: PlumbingTables):
        self.producer = producer
        self.tables = tables

    def add(self, session: Session, event_type: str, data: dict[str, Any], *,
            school_id: str | None, version: int | None = None) -> Envelope:
        """Queue an event for publishing; it is sent only if the transaction commits."""
        envelope = new_envelope(event_type, data, producer=self.producer,
                                school_id=school_id, version=version)
        self.add_envelope(session, envelope)
        return envelope

    def add_envelope(self, session: Session, envelope: Envelope) -> None:
        self.add_many(session, [envelope])

    def add_many(self, session: Session, envelopes: list[Envelope]) -> None:
        """Queue many events with one statement (a school's batch), in their order.

        On PostgreSQL the rows travel as one JSON parameter read back as a table
        (`json_to_recordset`, as ingest's records do): encoded in C, rather than an
        executemany that converts every value of thousands of rows in Python and runs
        the INSERT once per row. SQLite (unit tests, embedded mode) uses executemany."""
        if not envelopes:
            return
        from shared.contracts import contract_for
        rows = [{"event_id": e.id, "event_type": e.type,
                 "routing_key": contract_for(e.type, e.version).routing_key(e.producer),
                 "school_id": e.school_id, "payload": e.to_json()} for e in envelopes]
        now = utcnow()
        outbox = self.tables.outbox
        if session.get_bind().dialect.name != "postgresql":
            session.execute(outbox.insert(), [
                {**row, "created_at": now, "next_attempt_at": now, "attempts": 0}
                for row in rows])
            return
        given = _json_rows(rows)
        session.execute(outbox.insert().from_select(
            [*rows[0], "created_at", "next_attempt_at", "attempts"],
            sa.select(*(given.c[name] for name in rows[0]),
                      sa.literal(now, outbox.c.created_at.type),
                      sa.literal(now, outbox.c.next_attempt_at.type),
                      sa.literal(0, sa.Integer)).order_by(given.c.position)))


def _json_rows(rows: list[dict[str, Any]]) -> sa.TableValuedAlias:
    """PostgreSQL: the outbox rows, and each one's position in the list (their seq follows
    it), as one JSON parameter read back as a table."""
    from sqlalchemy.dialects import postgresql
    encoded = json.dumps([{**row, "position": i} for i, row in enumerate(rows)])
    return (sa.func.json_to_recordset(sa.cast(sa.literal(encoded, sa.Text), postgresql.JSON))
            .table_valued(*(sa.column(name, sa.Text) for name in rows[0]),
                          sa.column("position", sa.Integer))
            .render_derived("given", with_types=True))
