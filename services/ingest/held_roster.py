"""The school's held roster (roster_rows): what earlier OneRoster uploads said, read before
a bundle is applied and written back after it, and the records the roster no longer has.
Results are held as sourcedId and date only (no score)."""
from __future__ import annotations

from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.db import among

from . import domain, oneroster, record_store
from .models import roster_rows

Subjects = dict[tuple[str, str], Any]  # (file, sourcedId) -> the subject id its row carries


def load(session: Session, school_id: str) -> tuple[oneroster.State, Subjects]:
    """The held roster, and the subject id each held row carries."""
    state: oneroster.State = {name: {} for name in oneroster.HELD}
    subjects = {}
    for row in session.execute(sa.select(roster_rows).where(
            roster_rows.c.school_id == school_id, roster_rows.c.file != "results")):
        state[row.file][row.sourced_id] = oneroster.Row(
            row.sourced_id, row.data, row.modified_at)
        subjects[(row.file, row.sourced_id)] = row.subject_id
    return state, subjects


def drop_stale_results(session: Session, school_id: str,
                       bundle: oneroster.Bundle) -> list[dict]:
    """Results are held as sourcedId and date only: enough to refuse an older row."""
    rows = bundle.rows.get("results", [])
    held: dict[str, Any] = dict(session.execute(sa.select(
        roster_rows.c.sourced_id, roster_rows.c.modified_at).where(
        roster_rows.c.school_id == school_id, roster_rows.c.file == "results",
        among(roster_rows.c.sourced_id, [r.sourced_id for r in rows]))).all()) if rows else {}
    fresh, ignored = [], []
    for row in rows:
        before = held.get(row.sourced_id)
        if before and row.modified and row.modified < before:
            ignored.append({"file": "results.csv", "line": row.line, "error": "Older "
                            "than what was uploaded before (dateLastModified): not applied."})
        else:
            fresh.append(row)
    bundle.rows["results"] = fresh
    return ignored


def deletions(session: Session, school_id: str, held: oneroster.State,
              state: oneroster.State, bundle: oneroster.Bundle,
              projection: oneroster.Projection) -> list[oneroster.Pushed]:
    """X.deleted for every record pushed before (live) that the roster no longer has as
    that type: a tobedeleted row, a bulk file without it, a contact who no longer
    receives reports."""
    live = _live_records(session, school_id, _not_projected(held, state, projection))
    lines = {(spec, r.sourced_id): r.line for spec in ("users", "classes")
             for r in bundle.rows.get(spec, [])}
    return [_deleted(record_type, sid, lines) for record_type, sid in sorted(live)]


def _not_projected(held: oneroster.State, state: oneroster.State,
                   projection: oneroster.Projection) -> set[tuple[str, str]]:
    """(record type, sourcedId) of every class and person, held before or now, that this
    projection does not push as that type."""
    candidates = {("class", s) for s in (*held["classes"], *state["classes"])}
    candidates |= {(t, s) for s in (*held["users"], *state["users"])
                   for t in ("student", "guardian", "staff")}
    return {(t, s) for t, s in candidates if s not in projection.projected[t]}


def _deleted(record_type: str, sourced_id: str,
             lines: dict[tuple[str, str], int | None]) -> oneroster.Pushed:
    """X.deleted, from the row of this bundle that says so (if one does)."""
    file = "classes" if record_type == "class" else "users"
    return oneroster.Pushed(f"{record_type}.deleted", sourced_id, {}, f"{file}.csv",
                            lines.get((file, sourced_id)))


def write_back(session: Session, school_id: str, held: oneroster.State, subjects: Subjects,
               projection: oneroster.Projection, bundle: oneroster.Bundle) -> None:
    """Write back what changed: rows of this bundle, rows now held differently (a
    contact no longer taken becomes a stub), rows whose person's record changed (a
    role change), and drop what is gone."""
    kept = projection.kept
    _delete(session, school_id, _gone(held, kept))
    people = {s: t for t, ids in projection.projected.items() if t != "class" for s in ids}
    ids = _record_ids(session, school_id, people.items())
    fresh = _changed(held, kept, subjects, ids)
    fresh += _results(bundle)
    values = [_stored(school_id, name, row, ids) for name, row in fresh]
    _delete(session, school_id, [(v["file"], v["sourced_id"]) for v in values])
    if values:
        session.execute(roster_rows.insert(), values)


def _gone(held: oneroster.State, kept: oneroster.State) -> list[tuple[str, str]]:
    """(file, sourcedId) of the held rows no longer kept."""
    return [(name, sid) for name in oneroster.HELD for sid in held[name]
            if sid not in kept[name]]


def _results(bundle: oneroster.Bundle) -> list[tuple[str, oneroster.Row]]:
    """The bundle's results, held as sourcedId and date (to refuse an older one later)."""
    return [("results", row) for row in bundle.rows.get("results", [])
            if row.status == "active"]


def _stored(school_id: str, name: str, row: oneroster.Row, ids: dict[str, str]) -> dict:
    """A roster_rows row: the subject id is the record of the person the row is about."""
    return {"school_id": school_id, "file": name, "sourced_id": row.sourced_id,
            "modified_at": row.modified,
            "data": {} if name == "results" else row.values,  # no score held
            "subject_id": ids.get(oneroster.subject_of(name, row))}


def _changed(held: oneroster.State, kept: oneroster.State, subjects: Subjects,
             ids: dict[str, str]) -> list[tuple[str, oneroster.Row]]:
    """The rows to write: of this bundle, held differently now, or whose person's record
    changed."""
    return [(name, row) for name in oneroster.HELD for row in kept[name].values()
            if row.line is not None or row is not held[name].get(row.sourced_id)
            or subjects.get((name, row.sourced_id)) != ids.get(oneroster.subject_of(name, row))]


def _delete(session: Session, school_id: str, keys: list[tuple[str, str]]) -> None:
    """Delete the school's rows of these (file, sourcedId) pairs: a statement per file,
    its sourcedIds as one array parameter."""
    by_file: dict[str, list[str]] = {}
    for file, sourced_id in keys:
        by_file.setdefault(file, []).append(sourced_id)
    for file, sourced_ids in sorted(by_file.items()):
        session.execute(roster_rows.delete().where(
            roster_rows.c.school_id == school_id, roster_rows.c.file == file,
            among(roster_rows.c.sourced_id, sourced_ids)))


def _record_ids(session: Session, school_id: str,
                typed: Iterable[tuple[str, str]]) -> dict[str, str]:
    """source id -> record id, for (source id, record type) pairs."""
    keys = {domain.source_key(school_id, t, s): s for s, t in typed}
    return {keys[r.source_key]: r.id for r in record_store.find(session, school_id, keys)}


def _live_records(session: Session, school_id: str,
                  candidates: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (record type, source id) pairs whose record was pushed and not deleted."""
    keys = {domain.source_key(school_id, t, s): (t, s) for t, s in candidates}
    return {keys[r.source_key]
            for r in record_store.find(session, school_id, keys, live_only=True)}
