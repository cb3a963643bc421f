"""Applying a bundle to the school's held roster (`State`: what earlier uploads said,
sourcedId -> row): bulk files replace, delta rows change."""
from __future__ import annotations

from dataclasses import dataclass

from .fields import FILES, HELD, Row, _error
from .reading import Bundle

State = dict[str, dict[str, Row]]  # file name -> sourcedId -> row


@dataclass
class Settings:
    """The school's choice of which contacts receive reports when OneRoster says nothing
    (a `metadata.receivesReports` column on the contact's users row says it per contact)."""
    report_contact_roles: tuple[str, ...] = ()
    # The school's own orgs (sourcedIds) in a district or trust export: rows of only
    # other orgs are not taken (roster_scope.py). Empty: not set.
    school_orgs: tuple[str, ...] = ()


@dataclass
class Pushed:
    """One pushed event (as in a JSON batch) and the row it comes from."""
    type: str
    source_id: str
    data: dict
    file: str
    line: int | None


def apply(held: State, bundle: Bundle) -> tuple[State, list[dict]]:
    """The roster after the bundle: bulk files replace what was held, delta rows change it
    (tobedeleted removes); a delta row older than the held row is ignored. Returns the new
    state and the ignored rows."""
    state = {name: dict(held.get(name, {})) for name in HELD}
    ignored: list[dict] = []
    for spec in FILES:
        if spec.name not in bundle.modes or spec.name == "results":
            continue
        rows = bundle.rows.get(spec.name, [])
        if bundle.modes[spec.name] == "bulk":
            state[spec.name] = {r.sourced_id: r for r in rows if r.status == "active"}
        else:
            ignored += _apply_delta(state[spec.name], rows, spec.file)
    return state, ignored


def _apply_delta(current: dict[str, Row], rows: list[Row], file: str) -> list[dict]:
    """Changes `current` by a delta file's rows; returns the rows ignored (stale)."""
    ignored = []
    for row in rows:
        if _stale(row, current.get(row.sourced_id)):
            ignored.append(_error(file, row.line, "Older than what was uploaded "
                                  "before (dateLastModified): not applied."))
        elif row.status == "tobedeleted":
            current.pop(row.sourced_id, None)
        else:
            current[row.sourced_id] = row
    return ignored


def _stale(row: Row, before: Row | None) -> bool:
    return bool(before and before.modified and row.modified and row.modified < before.modified)


def _stub(row: Row) -> Row:
    values = {**row.values, "given_name": None, "family_name": None, "email": None}
    return row if values == row.values else Row(row.sourced_id, values, row.modified,
                                                row.status, row.line)


def subject_of(name: str, row: Row) -> str | None:
    """The sourcedId of the person a held row is about (its data is theirs)."""
    if name in ("users", "demographics"):
        return row.sourced_id
    if name in ("roles", "enrollments"):
        return row.values["user"]
    if name == "results":
        return row.values["student"]
    return None
