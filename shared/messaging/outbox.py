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
        from shared.contracts import contract_for
        routing_key = contract_for(envelope.type, envelope.version).routing_key(
            envelope.producer)
        now = utcnow()
        session.execute(self.tables.outbox.insert().values(
            event_id=envelope.id, event_type=envelope.type, routing_key=routing_key,
            school_id=envelope.school_id, payload=envelope.to_json(), created_at=now,
            next_attempt_at=now, attempts=0))
