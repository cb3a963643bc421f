"""Ingest use cases: a school's batch in one transaction, ids assigned, events to the
outbox. The rules of translation live in domain.py."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, NamedTuple

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from shared.contracts import ContractError
from shared.db import advisory_lock, utcnow
from shared.errors import Conflict, SchoolLeft
from shared.messaging.envelope import Envelope
from shared.messaging.outbox import Outbox
from shared.rights import RightsParticipant
from shared.contracts import fastload

from . import domain, held_roster, oneroster, record_store, roster_scope, schemas
from .ids import random_ids
from .models import batches, roster_erased, roster_settings
from .outgoing import EventBuilder, in_turns
from .pace import PushPace

log = logging.getLogger(__name__)
# Told of each stage of an upload's application: (stage, done, total).
Progress = Callable[[str, int, int], None] | None


def _say(progress: Progress, stage: str, done: int = 0, total: int = 0) -> None:
    if progress is not None:
        progress(stage, done, total)


class BatchConflict(Conflict):
    """The batch id was used before for a different body."""
    code = "batch_id_reused"
    answer = ("This batch_id was used for a different batch; send new data under a new "
              "batch_id.")


@dataclass
class _Record(record_store.StoredRecord):
    new: bool = False
    changed: bool = False


@dataclass
class _BatchState:
    """The records a batch touches, loaded once and written back once."""
    school_id: str
    records: dict[tuple[str, str], _Record] = field(default_factory=dict)  # (type, source id)
    source_keys: dict[tuple[str, str], str] = field(default_factory=dict)
    new_ids: Iterator[str] = field(default_factory=random_ids)

    @classmethod
    def load(cls, session: Session, school_id: str,
             named: set[tuple[str, str]]) -> _BatchState:
        """Every record named (record type, source id), in one query."""
        state = cls(school_id, source_keys={
            (t, s): domain.source_key(school_id, t, s) for t, s in named})
        by_key = {key: named_as for named_as, key in state.source_keys.items()}
        for stored in record_store.find(session, school_id, by_key):
            state.records[by_key[stored.source_key]] = _Record(**vars(stored))
        return state

    def get(self, record_type: str, source_id: str) -> _Record:
        key = (record_type, source_id)
        record = self.records.get(key)
        if record is None:
            source_key = self.source_keys.get(key) or domain.source_key(
                self.school_id, record_type, source_id)
            record = _Record(source_key, record_type, next(self.new_ids), version=0,
                             content_hash=None, new=True)
            self.records[key] = record
        return record

    def save(self, session: Session) -> None:
        """New records in one statement, changed ones in another."""
        touched = self.records.values()
        record_store.insert(session, self.school_id, [r for r in touched if r.new])
        record_store.update(session, self.school_id,
                            [r for r in touched if r.changed and not r.new])


def _reason(messages: Any, prefix: str = "") -> str:
    """Field names and our own messages only: never the rejected value."""
    if isinstance(messages, dict):
        return "; ".join(_reason(v, f"{prefix}{k}.") for k, v in sorted(messages.items()))
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return f"{prefix.rstrip('.')}: {' '.join(messages)}"
    if isinstance(messages, list):
        return "; ".join(_reason(v, f"{prefix}{i}.") for i, v in enumerate(messages))
    return f"{prefix.rstrip('.')}: {messages}"


# Marshmallow's loads with a fast path for plain, valid events (5,000 in a batch).
_LOAD_HEAD = fastload.loader(schemas.EVENT_HEAD)
_LOAD_DATA = {kind: fastload.loader(schema) for kind, schema in schemas.DATA_SCHEMAS.items()}


def validate_event(raw: Any) -> tuple[str, str, dict] | str:
    """(type, source id, loaded data) or the reason the event is refused."""
    if not isinstance(raw, dict):
        return "event: Must be an object with type, source_id and data."
    try:
        head = _LOAD_HEAD(raw)
    except ValidationError as err:
        return _reason(err.messages)
    kind = head["type"]
    if kind not in _LOAD_DATA:
        return f"type: Unknown type; one of {', '.join(sorted(schemas.DATA_SCHEMAS))}."
    try:
        data = _LOAD_DATA[kind](head["data"])
    except ValidationError as err:
        return _reason(err.messages, "data.")
    return kind, head["source_id"], data


_SOURCE_ID = schemas.EventHead().fields["source_id"]


def rejected_source_id(raw: Any) -> str | None:
    """A rejected event's source id, only when it is itself valid (a value refused for its
    own sake, too long or with control characters, is never kept or shown)."""
    value = raw.get("source_id") if isinstance(raw, dict) else None
    if not isinstance(value, str):
        return None
    try:
        return str(_SOURCE_ID.deserialize(value))
    except ValidationError:
        return None


@dataclass
class Ingest:
    outbox: Outbox
    participant: RightsParticipant
    pace: PushPace = PushPace(0)  # a school's pushes over HTTP (pace.py); 0: unbounded
    turn: int = 100  # events of a type written in a row (outgoing.in_turns): the relay's pack

    def push(self, session: Session, school_id: str, batch_id: str,
             events: list[Any], progress: Callable[[int], None] | None = None,
             paced: bool = False) -> dict:
        """`progress` hears how many events were applied, every thousand (a OneRoster
        job's progress). `paced`: a school system's push, refused (429) beyond the
        school's pace; the same batch again is answered as before, never refused."""
        digest = domain.body_hash(events)
        advisory_lock(session, f"ingest:{school_id}")  # one batch of a school at a time
        stored = session.execute(sa.select(batches).where(
            batches.c.school_id == school_id, batches.c.batch_id == batch_id)).first()
        if stored is not None:
            if stored.body_hash != digest:
                raise BatchConflict(batch_id)
            return _result(batch_id, stored.accepted, stored.rejected)
        if self.participant.is_offboarded(session, school_id):  # the school's tombstone
            raise SchoolLeft(school_id)
        if paced:
            self.pace.admit(session, school_id, len(events), utcnow())

        validated, rejected = _validate_all(events)
        state = _BatchState.load(session, school_id, _named(validated))
        builder = EventBuilder(school_id)
        envelopes: list[Envelope] = []
        for done, (index, kind, source_id, data) in enumerate(validated):  # versions follow it
            if progress is not None and done % 1000 == 0:
                progress(done)
            try:
                envelopes += self._apply(state, builder, kind, source_id, data)
            except ContractError as exc:  # our translation and the contracts disagree
                rejected.append({"index": index, "error": str(exc), "source_id": source_id})
        state.save(session)
        envelopes = in_turns(builder.gather_results(envelopes), self.turn)
        self.outbox.add_many(session, envelopes)
        rejected.sort(key=lambda r: r["index"])
        accepted = len(events) - len(rejected)
        session.execute(batches.insert().values(
            school_id=school_id, batch_id=batch_id, body_hash=digest, received_at=utcnow(),
            events=len(events), accepted=accepted, rejected=rejected))
        log.info("batch applied school_id=%s batch_id=%s accepted=%d rejected=%d events=%d",
                 school_id, batch_id, accepted, len(rejected), len(envelopes))
        return {**_result(batch_id, accepted, rejected), "published": len(envelopes)}

    @staticmethod
    def _apply(state: _BatchState, builder: EventBuilder, kind: str, source_id: str,
               data: dict) -> list[Envelope]:
        """The events one pushed event publishes (none when nothing changed). The record
        changes only once they are all built: an event refused changes nothing."""
        record_type, deleted = domain.KINDS[kind]
        record = state.get(record_type, source_id)
        made = domain.translate(kind, record.id, data, lambda t, s: state.get(t, s).id)
        if deleted:
            if record.content_hash is None:
                return []  # never pushed, or deleted already
            content_hash = None
        else:
            content_hash = domain.content_hash(state.school_id, record.id, made)
            if content_hash == record.content_hash:
                return []  # the same content again: nothing new downstream
        version = record.version + 1
        built = [builder.build(t, {**d, "record_version": version}) for t, d in made]
        record.content_hash, record.version, record.changed = content_hash, version, True
        return built


def _validate_all(events: list[Any]) -> tuple[list[tuple[int, str, str, dict]], list[dict]]:
    """(index, type, source id, data) of each valid event; {index, error, source_id} of
    the others (the source id when it was a valid one, else None: the school finds the
    record by it; issue 24)."""
    validated, rejected = [], []
    for index, raw in enumerate(events):
        outcome = validate_event(raw)
        if isinstance(outcome, str):
            rejected.append({"index": index, "error": outcome,
                             "source_id": rejected_source_id(raw)})
        else:
            validated.append((index, *outcome))
    return validated, rejected


def _named(validated) -> set[tuple[str, str]]:
    """(record type, source id) of every record the batch names, as itself or as a
    reference."""
    named: set[tuple[str, str]] = set()
    for _index, kind, source_id, data in validated:
        named.add((domain.KINDS[kind].record_type, source_id))
        named.update(domain.references(kind, data))
    return named


def _result(batch_id: str, accepted: int, rejected: list) -> dict:
    return {"batch_id": batch_id, "accepted": accepted, "rejected": list(rejected)}


# --- OneRoster bundles ------------------------------------------------------------------------

class _Prepared(NamedTuple):
    """A bundle checked against the roster held, ready to apply."""
    bundle: oneroster.Bundle
    held: oneroster.State
    subjects: dict
    state: oneroster.State
    projection: oneroster.Projection
    ignored: list[dict]
    other_orgs: dict


@dataclass
class RosterImport:
    """A OneRoster bundle applied as one batch: read and checked whole, the held roster
    changed, the roster projected onto pushed events and pushed through `Ingest.push` in
    the same transaction. Any fault refuses the whole bundle (BundleRejected): a bulk file
    is the full set, so applying part of one would delete the rest."""
    ingest: Ingest

    def settings(self, session: Session, school_id: str) -> oneroster.Settings:
        row = session.execute(sa.select(roster_settings).where(
            roster_settings.c.school_id == school_id)).first()
        if row is None:
            return oneroster.Settings()
        return oneroster.Settings(tuple(row.report_contact_roles or ()),
                                  tuple(row.school_org_ids or ()))

    def change_settings(self, session: Session, school_id: str,
                        report_contact_roles: list[str] | None = None,
                        school_org_ids: list[str] | None = None) -> oneroster.Settings:
        """Changes the settings given; the others stay as they are."""
        before = self.settings(session, school_id)
        roles = sorted(set(before.report_contact_roles if report_contact_roles is None
                           else report_contact_roles))
        orgs = sorted(set(before.school_orgs if school_org_ids is None else school_org_ids))
        values = {"report_contact_roles": roles, "school_org_ids": orgs}
        updated = session.execute(roster_settings.update().where(
            roster_settings.c.school_id == school_id).values(**values))
        if not updated.rowcount:
            session.execute(roster_settings.insert().values(school_id=school_id, **values))
        log.info("oneroster settings changed school_id=%s roles=%s orgs=%d", school_id, roles,
                 len(orgs))
        return oneroster.Settings(tuple(roles), tuple(orgs))

    def bundle_id(self, session: Session, school_id: str, bundle_bytes: bytes) -> str:
        """The same bytes under other settings are another upload (they may take others)."""
        settings = self.settings(session, school_id)
        digest = hashlib.sha256(bundle_bytes)
        digest.update(repr((settings.report_contact_roles, settings.school_orgs)).encode())
        return f"oneroster:{digest.hexdigest()[:40]}"

    def check(self, session: Session, school_id: str, bundle_bytes: bytes) -> None:
        """Every check that changes nothing (the bundle's shape, its orgs, its references
        to the roster held): raises BundleRejected with every fault, or SchoolLeft.
        The upload's request runs it, so a malformed bundle is refused at once."""
        if self.ingest.participant.is_offboarded(session, school_id):
            raise SchoolLeft(school_id)
        self._prepare(session, school_id, bundle_bytes)

    def _prepare(self, session: Session, school_id: str, bundle_bytes: bytes,
                 progress: Progress = None) -> _Prepared:
        settings = self.settings(session, school_id)
        _say(progress, "reading")
        bundle = oneroster.read_bundle(bundle_bytes)
        if bundle.unreadable_files:  # its rows' references cannot be judged either
            raise oneroster.BundleRejected(bundle.errors)
        _say(progress, "checking", 0, bundle.row_count)
        held, subjects = held_roster.load(session, school_id)
        faults, other_orgs = roster_scope.scope(held, bundle, settings.school_orgs)
        if faults:
            raise oneroster.BundleRejected(bundle.errors + faults)
        state, ignored = oneroster.apply(held, bundle)
        ignored += held_roster.drop_stale_results(session, school_id, bundle)
        erased = set(session.execute(sa.select(roster_erased.c.source_key).where(
            roster_erased.c.school_id == school_id)).scalars())
        projection = oneroster.project(
            state, bundle, settings,
            lambda sid: domain.source_key(school_id, "user", sid) in erased)
        errors = bundle.errors + projection.errors
        if errors:
            errors.sort(key=lambda e: (e["file"], e["line"] or 0))
            raise oneroster.BundleRejected(errors)
        return _Prepared(bundle, held, subjects, state, projection, ignored, other_orgs)

    def upload(self, session: Session, school_id: str, bundle_bytes: bytes,
               progress: Progress = None) -> dict:
        """Apply the bundle (the worker does, for a job the upload accepted); `progress`
        hears of each stage (reading, checking, applying done/total, saving)."""
        bundle_id = self.bundle_id(session, school_id, bundle_bytes)
        advisory_lock(session, f"ingest:{school_id}")
        stored = session.execute(sa.select(batches).where(
            batches.c.school_id == school_id, batches.c.batch_id == bundle_id)).first()
        if stored is not None:  # the same bundle again: the same answer, nothing applied
            return {"bundle_id": bundle_id, "rows": None, "events": stored.accepted,
                    "published": 0, "ignored": [], "already_applied": True}
        if self.ingest.participant.is_offboarded(session, school_id):
            raise SchoolLeft(school_id)
        p = self._prepare(session, school_id, bundle_bytes, progress)
        bundle, projection = p.bundle, p.projection
        pushed = projection.events + held_roster.deletions(session, school_id, p.held,
                                                           p.state, bundle, projection)
        _say(progress, "applying", 0, len(pushed))
        result = self.ingest.push(session, school_id, bundle_id, [
            {"type": x.type, "source_id": x.source_id, "data": x.data} for x in pushed],
            progress=None if progress is None else lambda done: progress(
                "applying", done, len(pushed)))
        if result["rejected"]:  # the push's own checks disagree: refuse it all
            raise oneroster.BundleRejected([_origin(pushed[r["index"]], r["error"])
                                            for r in result["rejected"]])
        _say(progress, "saving")
        held_roster.write_back(session, school_id, p.held, p.subjects, projection, bundle)
        ignored = bundle.ignored + p.ignored + projection.ignored
        log.info("oneroster bundle applied school_id=%s bundle_id=%s rows=%d events=%d "
                 "ignored=%d", school_id, bundle_id, bundle.row_count, result["accepted"],
                 len(ignored))
        return {"bundle_id": bundle_id, "files": bundle.modes, "rows": bundle.row_count,
                "events": result["accepted"], "published": result["published"],
                "already_applied": False, "other_orgs": p.other_orgs,
                "ignored": ignored[:oneroster.MAX_REPORTED_ERRORS]}

    def trust_schools(self, session: Session, school_ids: list[str]) -> list[str]:
        """The schools of a trust's client that name their own orgs (each takes its rows
        of the export); none: refused, saying what to set."""
        chosen = [s for s in sorted(school_ids) if self.settings(session, s).school_orgs]
        if not chosen:
            raise oneroster.BundleRejected([{"file": "orgs.csv", "line": None, "error": (
                "This client acts for several schools and none names its own orgs: set "
                "each school's school_org_ids in its OneRoster settings, or name the "
                "school (school_id).")}])
        return chosen

    def upload_for_trust(self, session: Session, school_ids: list[str],
                         bundle_bytes: bytes, progress: Progress = None) -> dict:
        """One export for several schools of a trust: applied to each school that names its
        own orgs, each taking only its rows; all or nothing."""
        return {"schools": {s: self.upload(session, s, bundle_bytes, progress)
                            for s in self.trust_schools(session, school_ids)}}


def _origin(pushed: oneroster.Pushed, reason: str) -> dict:
    if pushed.line is None:
        reason = f"sourcedId {pushed.source_id} (held from an earlier upload): {reason}"
    return {"file": pushed.file, "line": pushed.line, "error": reason}
