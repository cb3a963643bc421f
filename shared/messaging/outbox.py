"""Transactional outbox: an event is written in the same transaction as the state change."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from shared.db import utcnow
from shared.tables import PlumbingTables

from .envelope import Envelope, new_envelope


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
        """Queue many events with one statement (a school's batch)."""
        if not envelopes:
            return
        from shared.contracts import contract_for
        now = utcnow()
        session.execute(self.tables.outbox.insert(), [
            {"event_id": e.id, "event_type": e.type,
             "routing_key": contract_for(e.type, e.version).routing_key(e.producer),
             "school_id": e.school_id, "payload": e.to_json(), "created_at": now,
             "next_attempt_at": now, "attempts": 0} for e in envelopes])
