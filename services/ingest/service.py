"""Ingest use cases: a school's batch in one transaction, ids assigned, events to the
outbox. The rules of translation live in domain.py."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from shared.contracts import ContractError
from shared.db import advisory_lock, utcnow
from shared.messaging.envelope import new_envelope
from shared.messaging.outbox import Outbox
from shared.rights import RightsParticipant

from . import domain, schemas
from .models import batches, records

log = logging.getLogger(__name__)


class BatchConflict(Exception):
    """The batch id was used before for a different body."""


class SchoolOffboarded(Exception):
    pass


@dataclass
class _Record:
    id: str
    version: int
    content_hash: str | None
    new: bool = False
    changed: bool = False


@dataclass
class _BatchState:
    """The records a batch touches, loaded once and written back once."""
    school_id: str
    records: dict[tuple[str, str], _Record] = field(default_factory=dict)

    def get(self, record_type: str, source_id: str) -> _Record:
        key = (record_type, domain.source_key(self.school_id, record_type, source_id))
        record = self.records.get(key)
        if record is None:
            record = _Record(id=str(uuid.uuid4()), version=0, content_hash=None, new=True)
            self.records[key] = record
        return record


def _reason(messages: Any, prefix: str = "") -> str:
    """Field names and our own messages only: never the rejected value."""
    if isinstance(messages, dict):
        return "; ".join(_reason(v, f"{prefix}{k}.") for k, v in sorted(messages.items()))
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return f"{prefix.rstrip('.')}: {' '.join(messages)}"
    if isinstance(messages, list):
        return "; ".join(_reason(v, f"{prefix}{i}.") for i, v in enumerate(messages))
    return f"{prefix.rstrip('.')}: {messages}"


def validate_event(raw: Any) -> tuple[str, str, dict] | str:
    """(type, source id, loaded data) or the reason the event is refused."""
    if not isinstance(raw, dict):
        return "event: Must be an object with type, source_id and data."
    try:
        head = schemas.EVENT_HEAD.load(raw)
    except ValidationError as err:
        return _reason(err.messages)
    kind = head["type"]
    if kind not in schemas.DATA_SCHEMAS:
        return f"type: Unknown type; one of {', '.join(sorted(schemas.DATA_SCHEMAS))}."
    try:
        data = schemas.DATA_SCHEMAS[kind].load(head["data"])
    except ValidationError as err:
        return _reason(err.messages, "data.")
    return kind, head["source_id"], data


@dataclass
class Ingest:
    outbox: Outbox
    participant: RightsParticipant

    def push(self, session: Session, school_id: str, batch_id: str,
             events: list[Any]) -> dict:
        digest = domain.body_hash(events)
        advisory_lock(session, f"ingest:{school_id}")  # one batch of a school at a time
        stored = session.execute(sa.select(batches).where(
            batches.c.school_id == school_id, batches.c.batch_id == batch_id)).first()
        if stored is not None:
            if stored.body_hash != digest:
                raise BatchConflict(batch_id)
            return _result(batch_id, stored.accepted, stored.rejected)
        if self.participant.is_offboarded(session, school_id):  # the school's tombstone
            raise SchoolOffboarded(school_id)

        validated, rejected = [], []
        for index, raw in enumerate(events):
            outcome = validate_event(raw)
            if isinstance(outcome, str):
                rejected.append({"index": index, "error": outcome})
            else:
                validated.append((index, *outcome))
        state = self._load(session, school_id, validated)
        envelopes = []
        for index, kind, source_id, data in validated:
            record_type, deleted = domain.KINDS[kind]
            record = state.get(record_type, source_id)
            change = self._change_for(state, record, kind, deleted, data)
            if change is None:
                continue  # the same content again: nothing new downstream
            made, content_hash = change
            try:
                built = [new_envelope(t, {**d, "record_version": record.version + 1},
                                      producer="ingest", school_id=school_id)
                         for t, d in made]
            except ContractError as exc:  # our translation and the contracts disagree
                rejected.append({"index": index, "error": str(exc)})
                continue
            record.content_hash, record.version, record.changed = (
                content_hash, record.version + 1, True)
            envelopes += built
        self._save(session, school_id, state)
        self.outbox.add_many(session, envelopes)
        rejected.sort(key=lambda r: r["index"])
        accepted = len(events) - len(rejected)
        session.execute(batches.insert().values(
            school_id=school_id, batch_id=batch_id, body_hash=digest, received_at=utcnow(),
            events=len(events), accepted=accepted, rejected=rejected))
        log.info("batch applied school_id=%s batch_id=%s accepted=%d rejected=%d events=%d",
                 school_id, batch_id, accepted, len(rejected), len(envelopes))
        return _result(batch_id, accepted, rejected)

    @staticmethod
    def _change_for(state: _BatchState, record: _Record, kind: str, deleted: bool,
                    data: dict) -> tuple[domain.Events, str | None] | None:
        """The events to publish for this record now and its new content hash; None when
        nothing changed. The record itself changes only once the events are built."""
        made = domain.translate(kind, record.id, data, lambda t, s: state.get(t, s).id)
        if deleted:
            return None if record.content_hash is None else (made, None)
        digest = domain.content_hash(state.school_id, record.id, made)
        return None if digest == record.content_hash else (made, digest)

    @staticmethod
    def _load(session: Session, school_id: str, validated) -> _BatchState:
        """Every record the batch names (as itself or as a reference), in a few queries."""
        state = _BatchState(school_id)
        keys: set[tuple[str, str]] = set()
        for _index, kind, source_id, data in validated:
            keys.add((domain.KINDS[kind][0], source_id))
            for record_type, reference in domain.references(kind, data):
                keys.add((record_type, reference))
        hashed = {domain.source_key(school_id, t, s): t for t, s in keys}
        hashes = sorted(hashed)
        for start in range(0, len(hashes), 1000):
            rows = session.execute(sa.select(records).where(
                records.c.school_id == school_id,
                records.c.source_key.in_(hashes[start:start + 1000]))).all()
            for row in rows:
                state.records[(row.record_type, row.source_key)] = _Record(
                    row.id, row.version, row.content_hash)
        return state

    @staticmethod
    def _save(session: Session, school_id: str, state: _BatchState) -> None:
        new = [{"school_id": school_id, "record_type": t, "source_key": k, "id": r.id,
                "version": r.version, "content_hash": r.content_hash}
               for (t, k), r in state.records.items() if r.new]
        changed = [{"s": school_id, "k": k, "v": r.version, "h": r.content_hash}
                   for (_t, k), r in state.records.items() if r.changed and not r.new]
        if new:
            session.execute(records.insert(), new)
        if changed:
            session.execute(records.update().where(
                records.c.school_id == sa.bindparam("s"),
                records.c.source_key == sa.bindparam("k")).values(
                version=sa.bindparam("v"), content_hash=sa.bindparam("h")), changed)


def _result(batch_id: str, accepted: int, rejected: list) -> dict:
    return {"batch_id": batch_id, "accepted": accepted, "rejected": list(rejected)}
