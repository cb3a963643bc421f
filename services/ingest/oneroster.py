"""OneRoster 1.2 CSV bundles, read and mapped onto the school-data push (no Flask, no DB).

A bundle is a zip holding `manifest.csv` and one CSV per file the manifest names `bulk` or
`delta`. Reading checks the zip, the manifest, every needed column and every row, each
fault reported by file and line. The rows then change the school's held roster (`State`:
what earlier uploads said, sourcedId -> row); the whole roster is projected onto the same
pushed events a JSON batch carries (student.upserted, guardian.upserted, …), which ingest
validates and publishes as it does a batch, skipping what did not change.

docs/oneroster.md has the table of every field used, where it goes, and what is ignored.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import math
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from marshmallow import ValidationError

from . import schemas

# A large school's bundle: ~2,000 students with a term of results is ~25 MB of CSV and
# ~200,000 rows. These bounds leave room and keep one upload's memory bounded.
MAX_BUNDLE_BYTES = 64 * 1024 * 1024  # the zip as uploaded
MAX_UNZIPPED_BYTES = 128 * 1024 * 1024  # all its CSVs together, however well they compress
MAX_ROWS = 500_000
MAX_REPORTED_ERRORS = 1000

CONTACT_ROLES = ("parent", "guardian", "relative")
MODES = ("bulk", "delta", "absent")


class BundleRejected(Exception):
    """The bundle cannot be applied; `errors` holds every fault found, by file and line."""

    def __init__(self, errors: list[dict]):
        super().__init__(f"{len(errors)} errors")
        self.total = len(errors)
        self.errors = errors[:MAX_REPORTED_ERRORS]


@dataclass
class Row:
    """One record of a file: from this bundle (with its line) or held from an earlier one."""
    sourced_id: str
    values: dict[str, Any]
    modified: dt.datetime | None = None
    status: str = "active"
    line: int | None = None  # None: held from an earlier upload


def _error(file: str, line: int | None, reason: str) -> dict:
    return {"file": file, "line": line, "error": reason}


# --- Field checks: the push's own schemas, field by field (partial loads) -----------------

def _checked(schema, values: dict[str, Any], columns: dict[str, str]) -> tuple[dict, list[str]]:
    """Load `values` with the push schema's fields; reasons name the OneRoster column."""
    try:
        return schema.load(values, partial=True), []
    except ValidationError as err:
        return {}, [f"{columns.get(name, name)}: {' '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
                    for name, msgs in sorted(err.messages.items())]


_SOURCE_ID = schemas.SourceId()
# The push's schemas, built once (building one costs more than a load).
_STUDENT = schemas.DATA_SCHEMAS["student.upserted"]
_CLASS = schemas.DATA_SCHEMAS["class.upserted"]
_ATTAINMENT = schemas.DATA_SCHEMAS["attainment.recorded"]


def _sourced_id(value: str, column: str, reasons: list[str], *, required: bool = True) -> str | None:
    if not value:
        if required:
            reasons.append(f"{column}: Missing.")
        return None
    try:
        return _SOURCE_ID.deserialize(value)
    except ValidationError as err:
        reasons.append(f"{column}: {' '.join(err.messages)}")
        return None


def _list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _number(value: str, column: str, reasons: list[str]) -> float | None:
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        reasons.append(f"{column}: Not a number.")
        return None
    return number


def _boolean(value: str, column: str, reasons: list[str]) -> bool | None:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value:
        reasons.append(f"{column}: true or false.")
    return None


NAME_COLUMNS = {"given_name": "givenName", "family_name": "familyName", "email": "email"}


def _users(raw: dict[str, str], reasons: list[str]) -> dict:
    loaded, problems = _checked(_STUDENT, {
        "given_name": raw["givenName"], "family_name": raw["familyName"],
        **({"email": raw["email"]} if raw.get("email") else {})}, NAME_COLUMNS)
    reasons += problems
    return {"given_name": loaded.get("given_name"), "family_name": loaded.get("family_name"),
            "email": loaded.get("email"), "role": raw.get("role") or None,
            "agents": [a for a in (_sourced_id(s, "agentSourcedIds", reasons)
                                   for s in _list(raw.get("agentSourcedIds", ""))) if a],
            "grades": _list(raw.get("grades", "")),
            "orgs": [o for o in (_sourced_id(s, "orgSourcedIds", reasons) for s in _list(
                f"{raw.get('orgSourcedIds', '')},{raw.get('primaryOrgSourcedId', '')}")) if o],
            "receives_reports": _boolean(raw.get("metadata.receivesReports", ""),
                                         "metadata.receivesReports", reasons),
            # false: the school does not let this person sign in (no invitation).
            "enabled": _boolean(raw.get("enabledUser", ""), "enabledUser", reasons) is not False}


def _roles(raw: dict[str, str], reasons: list[str]) -> dict:
    return {"user": _sourced_id(raw["userSourcedId"], "userSourcedId", reasons),
            "role": raw["role"], "primary": raw.get("roleType", "") == "primary",
            "org": _sourced_id(raw.get("orgSourcedId", ""), "orgSourcedId", reasons,
                               required=False)}


def _demographics(raw: dict[str, str], reasons: list[str]) -> dict:
    if not raw["birthDate"]:
        return {"birth_date": None}
    loaded, problems = _checked(_STUDENT, {"date_of_birth": raw["birthDate"]},
                                {"date_of_birth": "birthDate"})
    reasons += problems
    return {"birth_date": loaded["date_of_birth"].isoformat() if loaded else None}


def _orgs(raw: dict[str, str], reasons: list[str]) -> dict:
    return {"type": raw["type"]}


def _sessions(raw: dict[str, str], reasons: list[str]) -> dict:
    loaded, problems = _checked(_ATTAINMENT, {"period": raw["title"]},
                                {"period": "title"})
    reasons += problems
    return {"title": loaded.get("period")}


def _subjects(raw: dict[str, str], reasons: list[str]) -> list[str]:
    """Only the first subject is used (a class's subject); it must fit one."""
    subjects = _list(raw.get("subjects", ""))[:1]
    if subjects:
        reasons += _checked(_CLASS, {"subject": subjects[0]}, {"subject": "subjects"})[1]
    return subjects


def _courses(raw: dict[str, str], reasons: list[str]) -> dict:
    loaded, problems = _checked(_CLASS, {"subject": raw["title"]},
                                {"subject": "title"})
    reasons += problems
    return {"title": loaded.get("subject"), "subjects": _subjects(raw, reasons)}


def _classes(raw: dict[str, str], reasons: list[str]) -> dict:
    homeroom = raw["classType"] == "homeroom"
    if homeroom:  # its title is the students' form group
        loaded, problems = _checked(_STUDENT, {"form_group": raw["title"]},
                                    {"form_group": "title"})
        title = loaded.get("form_group")
    else:
        loaded, problems = _checked(_CLASS, {"name": raw["title"]}, {"name": "title"})
        title = loaded.get("name")
    reasons += problems
    if raw["classType"] not in ("homeroom", "scheduled"):
        reasons.append("classType: homeroom or scheduled.")
    return {"title": title, "homeroom": homeroom,
            "course": _sourced_id(raw["courseSourcedId"], "courseSourcedId", reasons),
            "school": _sourced_id(raw["schoolSourcedId"], "schoolSourcedId", reasons),
            "subjects": _subjects(raw, reasons)}


def _enrollments(raw: dict[str, str], reasons: list[str]) -> dict:
    return {"class": _sourced_id(raw["classSourcedId"], "classSourcedId", reasons),
            "user": _sourced_id(raw["userSourcedId"], "userSourcedId", reasons),
            "role": raw["role"],
            "school": _sourced_id(raw.get("schoolSourcedId", ""), "schoolSourcedId", reasons,
                                  required=False)}


def _line_items(raw: dict[str, str], reasons: list[str]) -> dict:
    session = raw.get("academicSessionSourcedId") or raw.get("gradingPeriodSourcedId", "")
    loaded, problems = _checked(_ATTAINMENT, {"topic": raw["title"]},
                                {"topic": "title"})
    reasons += problems
    out_of = _number(raw.get("resultValueMax", ""), "resultValueMax", reasons)
    return {"title": loaded.get("topic"),
            "class": _sourced_id(raw["classSourcedId"], "classSourcedId", reasons),
            "session": _sourced_id(session, "academicSessionSourcedId", reasons),
            "out_of": out_of if out_of and out_of > 0 else None}  # 0: no maximum given


def _results(raw: dict[str, str], reasons: list[str]) -> dict:
    score, text = raw.get("score", ""), raw.get("textScore", "")
    if score:
        _number(score, "score", reasons)
    loaded, problems = _checked(_ATTAINMENT, {"value": score or text},
                                {"value": "score"}) if (score or text) else ({}, [])
    reasons += problems
    return {"line_item": _sourced_id(raw["lineItemSourcedId"], "lineItemSourcedId", reasons),
            "student": _sourced_id(raw["studentSourcedId"], "studentSourcedId", reasons),
            "value": loaded.get("value"), "kind": "mark" if score else "grade"}


@dataclass(frozen=True)
class FileSpec:
    name: str  # the manifest's name: users -> file.users, users.csv
    needs: tuple[str, ...]  # columns used and required, beyond sourcedId/status/dateLastModified
    parse: Callable[[dict[str, str], list[str]], dict]
    any_of: tuple[str, ...] = ()  # at least one of these columns

    @property
    def file(self) -> str:
        return f"{self.name}.csv"


# In the order they are applied: a file's references point to files before it.
FILES = (
    FileSpec("orgs", ("name", "type"), _orgs),
    FileSpec("academicSessions", ("title",), _sessions),
    FileSpec("courses", ("title",), _courses),
    FileSpec("classes", ("title", "classType", "courseSourcedId", "schoolSourcedId"), _classes),
    FileSpec("users", ("givenName", "familyName"), _users),
    FileSpec("roles", ("userSourcedId", "role"), _roles),
    FileSpec("demographics", ("birthDate",), _demographics),
    FileSpec("enrollments", ("classSourcedId", "userSourcedId", "role"), _enrollments),
    FileSpec("lineItems", ("title", "classSourcedId"), _line_items,
             any_of=("academicSessionSourcedId", "gradingPeriodSourcedId")),
    FileSpec("results", ("lineItemSourcedId", "studentSourcedId"), _results),
)
SPECS = {spec.name: spec for spec in FILES}
HELD = tuple(spec.name for spec in FILES if spec.name != "results")  # results are not held


# --- Reading the zip ------------------------------------------------------------------------

@dataclass
class Bundle:
    modes: dict[str, str]  # file name -> bulk | delta, for the files it carries
    rows: dict[str, list[Row]] = field(default_factory=dict)
    ignored: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)  # rows (and files) that cannot be read
    faulty_ids: set[str] = field(default_factory=set)  # sourcedIds of rows in `errors`
    unreadable_files: bool = False  # a file could not be read at all (a missing column, …)

    @property
    def row_count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


def _modified(value: str) -> dt.datetime:
    stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)


class _Counted(io.RawIOBase):
    """A zip member read as a stream, its unzipped bytes counted against the bundle's
    bound as they come (a zip's declared sizes can lie)."""

    def __init__(self, member, reader: "_Reader", file: str):
        self.member, self.reader, self.file = member, reader, file

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.member.readinto(buffer)
        self.reader.unzipped += count
        if self.reader.unzipped > MAX_UNZIPPED_BYTES:
            raise BundleRejected([_error(self.file, None, f"The bundle unzips to more than "
                                         f"{MAX_UNZIPPED_BYTES} bytes.")])
        return count


class _Reader:
    def __init__(self, data: bytes):
        self.errors: list[dict] = []
        self.unzipped = 0
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            names = [i.filename for i in self.zip.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, ValueError):
            raise BundleRejected([_error("bundle", None, "Not a zip file.")]) from None
        self.members: dict[str, str] = {}
        for name in names:  # files at the root, or all in one folder
            base = name.rsplit("/", 1)[-1]
            if base in self.members:
                raise BundleRejected([_error(base, None, "The zip holds two files of this name.")])
            self.members[base] = name

    def records(self, file: str) -> Iterable[tuple[int, list[str]]]:
        """(line where the record starts, fields) of one member, streamed; quoted line
        breaks included. Raises _Unreadable with the reason."""
        try:
            member = self.zip.open(self.members[file])
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, zlib.error):
            raise _Unreadable("Cannot be read from the zip.") from None
        with member:
            text = io.TextIOWrapper(io.BufferedReader(_Counted(member, self, file)),
                                    encoding="utf-8-sig", newline="")
            reader = csv.reader(text, strict=True)
            while True:
                start = reader.line_num + 1
                try:
                    fields_ = next(reader)
                except StopIteration:
                    return
                except UnicodeDecodeError:
                    raise _Unreadable(f"Not UTF-8 (after line {reader.line_num}).") from None
                except csv.Error as exc:
                    raise _Unreadable(f"Not CSV after line {reader.line_num}: {exc}.") from None
                except (zipfile.BadZipFile, RuntimeError, OSError, zlib.error, EOFError):
                    raise _Unreadable("Cannot be read from the zip (damaged).") from None
                yield start, fields_


class _Unreadable(Exception):
    pass


# The files each version's manifest names (1EdTech OneRoster CSV binding 1.1 §2.1 and
# 1.2 §3.1.1: every one is given, absent, bulk or delta).
VERSION_FILES = {
    "1.1": ("academicSessions", "categories", "classes", "classResources", "courses",
            "courseResources", "demographics", "enrollments", "lineItems", "orgs",
            "resources", "results", "users"),
    "1.2": ("academicSessions", "categories", "classes", "classResources", "courses",
            "courseResources", "demographics", "enrollments", "lineItemLearningObjectiveIds",
            "lineItems", "lineItemScoreScales", "orgs", "resources",
            "resultLearningObjectiveIds", "results", "resultScoreScales", "roles",
            "scoreScales", "userProfiles", "userResources", "users"),
}


def read_manifest(reader: _Reader) -> tuple[dict[str, str], list[dict], list[dict], bool]:
    """(file name -> bulk | delta, faults, warnings, whether a fault leaves a file Pupil
    Progress takes unknown). A fault in one manifest row does not stop the others, nor the
    files' own checks: every fault is reported."""
    if "manifest.csv" not in reader.members:
        raise BundleRejected([_error("manifest.csv", None, "Missing: a OneRoster bundle "
                                     "starts with its manifest.")])
    properties: dict[str, tuple[str, int]] = {}
    errors, warnings = [], []
    try:
        records = list(reader.records("manifest.csv"))
    except _Unreadable as exc:
        raise BundleRejected([_error("manifest.csv", None, str(exc))]) from None
    if not records or [c.strip() for c in records[0][1][:2]] != ["propertyName", "value"]:
        raise BundleRejected([_error("manifest.csv", 1, "The header is propertyName,value.")])
    for line, values in records[1:]:
        if len(values) >= 2:
            properties[values[0].strip()] = (values[1].strip(), line)
    version = properties.get("oneroster.version", ("", 1))
    if version[0] not in VERSION_FILES:
        errors.append(_error("manifest.csv", version[1], "oneroster.version: 1.2 (or 1.1)."))
    incomplete = bool(errors)
    modes = {}
    for name, (value, line) in properties.items():
        if not name.startswith("file."):
            continue
        file = name[len("file."):]
        if value not in MODES:
            errors.append(_error("manifest.csv", line, f"{name}: bulk, delta or absent."))
            incomplete = incomplete or file in SPECS
        elif value != "absent" and file in SPECS:
            if f"{file}.csv" not in reader.members:
                errors.append(_error("manifest.csv", line, f"{name} is {value} but "
                                     f"{file}.csv is not in the zip."))
                incomplete = True
            else:
                modes[file] = value
    for file in VERSION_FILES.get(version[0], ()):
        if f"file.{file}" in properties:
            continue
        if file in SPECS:  # a file we take: absent or forgotten cannot be told apart
            errors.append(_error("manifest.csv", None, f"file.{file}: Missing; the "
                                 "manifest names every file, as absent, bulk or delta."))
            incomplete = True
        else:
            warnings.append(_error("manifest.csv", None, f"file.{file}: Missing (a file "
                                   "Pupil Progress does not take): read as absent."))
    if not modes and not errors:
        errors.append(_error("manifest.csv", None, "Names no file as bulk or delta."))
    return modes, errors, warnings, incomplete


def read_bundle(data: bytes) -> Bundle:
    """Every row of every file the manifest names, checked; the faults found are in
    `errors` (file, line, reason; never a rejected value). A zip or manifest that cannot be
    read at all raises BundleRejected."""
    reader = _Reader(data)
    modes, errors, warnings, incomplete = read_manifest(reader)
    bundle = Bundle(modes, ignored=warnings, errors=errors, unreadable_files=incomplete)
    for member in sorted(reader.members):
        name = member.removesuffix(".csv")
        if member != "manifest.csv" and bundle.modes.get(name) is None:
            bundle.ignored.append(_error(member, None, "Not used: absent from the manifest "
                                         "or not a file Pupil Progress takes."))
    rows_seen = 0
    for spec in FILES:
        mode = bundle.modes.get(spec.name)
        if mode is not None:
            rows, rows_seen = _read_file(spec, mode, reader, bundle, rows_seen)
            bundle.rows[spec.name] = rows
    return bundle


def _read_file(spec: FileSpec, mode: str, reader: _Reader, bundle: Bundle,
               rows_seen: int) -> tuple[list[Row], int]:
    errors = bundle.errors

    def fault(line: int | None, reason: str) -> None:
        errors.append(_error(spec.file, line, reason))
        if len(errors) >= MAX_REPORTED_ERRORS:  # refused anyway: stop reading
            raise BundleRejected(errors)

    rows: list[Row] = []
    try:
        records = iter(reader.records(spec.file))
        header_line, header = next(records, (1, []))
        header = [h.strip() for h in header]
        needs = ("sourcedId", "status", "dateLastModified", *spec.needs)
        missing = [c for c in needs if c not in header]
        if spec.any_of and not any(c in header for c in spec.any_of):
            missing.append(" or ".join(spec.any_of))
        twice = sorted({c for c in header if c and header.count(c) > 1})
        unnamed = [str(n) for n, c in enumerate(header, 1) if not c]
        if missing or twice or unnamed:
            bundle.unreadable_files = True
            fault(header_line, " ".join(
                ([f"Missing column {', '.join(missing)}."] if missing else [])
                + ([f"Column {', '.join(twice)} given twice."] if twice else [])
                + ([f"Column {', '.join(unnamed)} of the header has no name."]
                   if unnamed else [])))
            return [], rows_seen
        seen: dict[str, int] = {}
        for line, values in records:
            rows_seen += 1
            if rows_seen > MAX_ROWS:
                raise BundleRejected([_error(spec.file, line, f"The bundle holds more than "
                                             f"{MAX_ROWS} rows.")])
            if values == [] or values == [""]:
                continue  # a blank line
            values = _fitted(spec, header, values, line, bundle)
            if values is None:
                continue
            raw = dict(zip(header, (v.strip() for v in values)))
            reasons: list[str] = []
            row = _read_row(spec, mode, raw, line, reasons)
            if row is not None and row.sourced_id in seen:
                reasons.append(f"sourcedId: Also on line {seen[row.sourced_id]}.")
            if reasons:
                bundle.faulty_ids.add(raw["sourcedId"])
                if spec.name == "roles" and raw.get("userSourcedId"):
                    # the user's role is not known: not "No role", nor rows naming them
                    bundle.faulty_ids.add(raw["userSourcedId"])
                fault(line, "; ".join(reasons))
                continue
            seen[row.sourced_id] = line
            rows.append(row)
        return rows, rows_seen
    except _Unreadable as exc:
        bundle.unreadable_files = True
        fault(None, str(exc))
        return [], rows_seen


def _fitted(spec: FileSpec, header: list[str], values: list[str], line: int,
            bundle: Bundle) -> list[str] | None:
    """The row's fields, one per column. Extra empty fields at the end (a spreadsheet's
    artefact) are dropped with a warning; other counts are a fault, and the row's
    sourcedId still counts as present (rows naming it are not refused as dangling)."""
    if len(values) > len(header) and not any(v.strip() for v in values[len(header):]):
        bundle.ignored.append(_error(spec.file, line, f"{len(values) - len(header)} empty "
                                     "field(s) after the last column: dropped."))
        return values[:len(header)]
    if len(values) == len(header):
        return values
    if "sourcedId" in header and header.index("sourcedId") < len(values):
        bundle.faulty_ids.add(values[header.index("sourcedId")].strip())
    bundle.errors.append(_error(spec.file, line, f"{len(values)} fields; the header has "
                                f"{len(header)}."))
    if len(bundle.errors) >= MAX_REPORTED_ERRORS:
        raise BundleRejected(bundle.errors)
    return None


def _read_row(spec: FileSpec, mode: str, raw: dict[str, str], line: int,
              reasons: list[str]) -> Row | None:
    sourced_id = _sourced_id(raw["sourcedId"], "sourcedId", reasons)
    status = raw["status"] or ("active" if mode == "bulk" else "")
    if status not in ("active", "tobedeleted"):
        reasons.append("status: active or tobedeleted." if status else
                       "status: Required in a delta file.")
    modified = None
    if raw["dateLastModified"]:
        try:
            modified = _modified(raw["dateLastModified"])
        except ValueError:
            reasons.append("dateLastModified: Not an ISO 8601 date and time.")
    elif mode == "delta":
        reasons.append("dateLastModified: Required in a delta file.")
    values = spec.parse(raw, reasons) if status != "tobedeleted" else {}
    return None if reasons else Row(sourced_id, values, modified, status, line)


# --- Applying a bundle to the held roster, and projecting the roster ------------------------

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
    ignored = []
    for spec in FILES:
        if spec.name not in bundle.modes or spec.name == "results":
            continue
        rows = bundle.rows.get(spec.name, [])
        if bundle.modes[spec.name] == "bulk":
            state[spec.name] = {r.sourced_id: r for r in rows if r.status == "active"}
            continue
        current = state[spec.name]
        for row in rows:
            before = current.get(row.sourced_id)
            if _stale(row, before):
                ignored.append(_error(spec.file, row.line, "Older than what was uploaded "
                                      "before (dateLastModified): not applied."))
            elif row.status == "tobedeleted":
                current.pop(row.sourced_id, None)
            else:
                current[row.sourced_id] = row
    return state, ignored


def _stale(row: Row, before: Row | None) -> bool:
    return bool(before and before.modified and row.modified and row.modified < before.modified)


@dataclass
class Projection:
    events: list[Pushed]
    kept: State  # what to hold: only the people and relations Pupil Progress uses
    projected: dict[str, set[str]]  # record type -> source ids pushed as that type
    errors: list[dict]
    ignored: list[dict]


TAKEN_ROLES = ("student", "teacher", *CONTACT_ROLES)


def user_roles(state: State) -> dict[str, list[str]]:
    """sourcedId -> every role of the user, each once: roles.csv's primary roles first,
    then the users.csv role column (OneRoster 1.1), then roles.csv's other roles. A 1.2
    user may be, say, a teacher of a class and a guardian of a student: each role is
    honoured."""
    roles: dict[str, list[str]] = {}

    def add(user: str, role: str) -> None:
        if role not in roles.setdefault(user, []):
            roles[user].append(role)
    ordered = sorted(state["roles"].values(), key=lambda r: not r.values["primary"])
    for row in (r for r in ordered if r.values["primary"]):
        add(row.values["user"], row.values["role"])
    for sid, row in state["users"].items():
        if row.values.get("role"):
            add(sid, row.values["role"])
    for row in ordered:
        add(row.values["user"], row.values["role"])
    return roles


def _contact_role(roles: list[str] | None) -> str | None:
    """The user's contact role (parent, guardian, relative), the primary one first."""
    return next((r for r in roles or () if r in CONTACT_ROLES), None)


def _roles_not_taken(state: State) -> list[dict]:
    """Roles Pupil Progress has no use for (administrators, aides, …), by row."""
    ignored = [_error("roles.csv", row.line, "role: Not a role Pupil "
                      "Progress takes (student, teacher, parent, guardian, relative).")
               for row in state["roles"].values()
               if row.line is not None and row.values["role"] not in TAKEN_ROLES]
    ignored += [_error("users.csv", row.line, "role: Not a role Pupil "
                       "Progress takes (student, teacher, parent, guardian, relative).")
                for row in state["users"].values() if row.line is not None
                and row.values.get("role") and row.values["role"] not in TAKEN_ROLES]
    return ignored


def _year_group(grades: list[str]) -> int | None:
    """The first grade 01-13 as a year group; none such (no `grades`, or only codes like
    PS, KG, UG, Other): not known."""
    for grade in grades:
        if grade.isascii() and grade.isdigit() and len(grade) <= 2 and 1 <= int(grade) <= 13:
            return int(grade)
    return None


def project(state: State, bundle: Bundle, settings: Settings,
            erased: Callable[[str], bool] = lambda sourced_id: False) -> Projection:
    """The roster as pushed events: students, the contacts who receive reports for at least
    one child, teachers, classes (homeroom classes are form groups), and the bundle's
    results. Errors name the row at fault (held rows by sourcedId). `erased` tells a user
    erased at the school's request: rows naming one are ignored, not faults."""
    errors, ignored, events = [], [], []
    users, roles = state["users"], user_roles(state)

    def fault(file: str, row: Row, reason: str) -> None:
        if row.sourced_id in bundle.faulty_ids:
            return  # its own row's fault is reported already
        if row.line is None:
            errors.append(_error(file, None, f"sourcedId {row.sourced_id} (held from an "
                                 f"earlier upload): {reason}"))
        else:
            errors.append(_error(file, row.line, reason))

    removed = {r.sourced_id for rows in bundle.rows.values() for r in rows
               if r.status == "tobedeleted"}

    def dangling(file: str, row: Row, column: str, target: str, ref: str) -> None:
        if ref in bundle.faulty_ids:  # the row it names has a fault of its own
            return
        if target in ("users", "student") and erased(ref):
            ignored.append(_error(file, row.line, f"{column}: Names a person erased at the "
                                  "school's request: not applied."))
        elif ref in removed:
            errors.append(_error(file, row.line, f"{column}: Names {ref}, which this "
                                 "bundle marks tobedeleted."))
        else:
            errors.append(_error(file, row.line, f"{column}: No {target} record {ref}."))

    # References from rows of this bundle must resolve.
    for name, key, column, target in (
            ("classes", "course", "courseSourcedId", "courses"),
            ("classes", "school", "schoolSourcedId", "orgs"),
            ("roles", "user", "userSourcedId", "users"),
            ("demographics", None, "sourcedId", "users"),
            ("enrollments", "class", "classSourcedId", "classes"),
            ("lineItems", "class", "classSourcedId", "classes"),
            ("lineItems", "session", "academicSessionSourcedId", "academicSessions")):
        for row in state[name].values():
            ref = row.sourced_id if key is None else row.values.get(key)
            if row.line is not None and ref and ref not in state[target]:
                dangling(f"{name}.csv", row, column, target, ref)
    for row in state["enrollments"].values():
        if row.line is not None and row.values["role"] in ("student", "teacher") \
                and row.values["user"] not in users:
            dangling("enrollments.csv", row, "userSourcedId", "users", row.values["user"])

    students = {s for s, r in roles.items() if "student" in r and s in users}
    teachers = {s for s, r in roles.items() if "teacher" in r and s in users}
    ignored += _roles_not_taken(state)
    for sid, row in users.items():
        if sid in roles or row.line is None:  # held without one: ignored when it came
            continue
        if erased(sid):
            ignored.append(_error("users.csv", row.line, "Erased at the school's request: "
                                  "taken anew only with its role (roles.csv)."))
        else:
            fault("users.csv", row, "No role: give role in users.csv or a roles.csv row.")

    classes = state["classes"]
    enrolled: dict[str, list[Row]] = {}
    for row in state["enrollments"].values():
        if row.values["class"] in classes and row.values["user"] in users:
            enrolled.setdefault(row.values["class"], []).append(row)
    form_groups: dict[str, str] = {}
    for class_id, rows in sorted(enrolled.items()):
        if classes[class_id].values["homeroom"]:
            for row in rows:
                if row.values["role"] == "student":
                    form_groups.setdefault(row.values["user"], classes[class_id].values["title"])

    for sid in sorted(students):
        row = users[sid]
        demographics = state["demographics"].get(sid)
        birth_date = demographics.values.get("birth_date") if demographics else None
        # Both optional: without a birthDate the links wait for one (none can be
        # confirmed); without a grade 01-13 the year group is not known.
        data = {"given_name": row.values["given_name"], "family_name": row.values["family_name"],
                "date_of_birth": birth_date, "form_group": form_groups.get(sid, ""),
                "year_group": _year_group(row.values["grades"])}
        if row.values.get("email") and row.values.get("enabled", True):
            data["email"] = row.values["email"]  # enabledUser false: no student account
        events.append(Pushed("student.upserted", sid, data, "users.csv", row.line))

    children: dict[str, set[str]] = {}
    for sid, row in users.items():
        for agent in row.values["agents"]:
            if sid in students and _contact_role(roles.get(agent)):
                children.setdefault(agent, set()).add(sid)
            if _contact_role(roles.get(sid)) and agent in students:
                children.setdefault(sid, set()).add(agent)
    contacts = set()
    for sid in sorted(s for s, r in roles.items() if _contact_role(r) and s in users):
        row = users[sid]
        if row.values.get("given_name") is None:
            continue  # held as a stub: not taken before, and not in this bundle
        receives = row.values.get("receives_reports")
        if receives is None:
            receives = _contact_role(roles[sid]) in settings.report_contact_roles
        kids = sorted(children.get(sid, ()))
        if not receives or not kids:
            if row.line is not None:
                ignored.append(_error("users.csv", row.line, "A contact who receives no "
                                      "child's reports is not taken."))
            continue
        if not row.values.get("email") or not row.values.get("enabled", True):
            if row.line is not None:
                ignored.append(_error("users.csv", row.line, "A contact without an email "
                                      "cannot sign in: not taken." if row.values.get("enabled",
                                      True) else "enabledUser false: no invitation; not "
                                      "taken."))
            continue
        contacts.add(sid)
        events.append(Pushed("guardian.upserted", sid, {
            "given_name": row.values["given_name"], "family_name": row.values["family_name"],
            "email": row.values["email"], "students": [
                {"student_id": kid, "relationship": _contact_role(roles[sid]),
                 "receives_reports": True}
                for kid in kids]}, "users.csv", row.line))

    for sid in sorted(teachers):
        row = users[sid]
        events.append(Pushed("staff.upserted", sid, {
            "title": "", "given_name": row.values["given_name"],
            "family_name": row.values["family_name"]}, "users.csv", row.line))

    taught = set()
    for class_id in sorted(classes):
        row = classes[class_id]
        if row.values["homeroom"]:
            continue
        course = state["courses"].get(row.values["course"])
        subject = next(iter(row.values["subjects"] or (course.values["subjects"] if course
                                                        else [])), None)
        subject = subject or (course.values["title"] if course else row.values["title"])
        members = enrolled.get(class_id, [])
        taught.add(class_id)
        events.append(Pushed("class.upserted", class_id, {
            "name": row.values["title"], "subject": subject,
            "teacher_ids": sorted(r.values["user"] for r in members
                                  if r.values["role"] == "teacher" and r.values["user"] in teachers),
            "student_ids": sorted(r.values["user"] for r in members
                                  if r.values["role"] == "student" and r.values["user"] in students)},
            "classes.csv", row.line))

    line_items, sessions = state["lineItems"], state["academicSessions"]
    for row in bundle.rows.get("results", []):
        if row.status != "active":
            ignored.append(_error("results.csv", row.line, "A result cannot be withdrawn "
                                  "through OneRoster: not applied."))
            continue
        item = line_items.get(row.values["line_item"])
        if item is None:
            dangling("results.csv", row, "lineItemSourcedId", "lineItems",
                     row.values["line_item"])
            continue
        if row.values["student"] not in students:
            dangling("results.csv", row, "studentSourcedId", "student",
                     row.values["student"])
            continue
        if item.values["class"] not in taught:
            if item.values["class"] in bundle.faulty_ids:
                continue  # its class has a fault of its own, reported already
            errors.append(_error("results.csv", row.line, "lineItemSourcedId: Its class is "
                                 "not a scheduled class held."))
            continue
        if row.values["value"] is None:
            ignored.append(_error("results.csv", row.line, "No score: not applied."))
            continue
        session = sessions.get(item.values["session"])
        events.append(Pushed("attainment.recorded", row.sourced_id, {
            "student_id": row.values["student"], "class_id": item.values["class"],
            "period": session.values["title"] if session else "", "kind": row.values["kind"],
            "value": row.values["value"], "out_of": item.values["out_of"],
            "topic": item.values["title"]}, "results.csv", row.line))

    people = students | teachers | contacts
    kept = {name: dict(rows) for name, rows in state.items()}
    # Everyone else is held as a stub (role and links, no name or email), so later deltas
    # that name them still resolve.
    kept["users"] = {s: r if s in people else _stub(r) for s, r in users.items()}
    kept["roles"] = {s: r for s, r in state["roles"].items() if r.values["user"] in users}
    kept["demographics"] = {s: r for s, r in state["demographics"].items() if s in students}
    kept["enrollments"] = {s: r for s, r in state["enrollments"].items()
                           if r.values["user"] in people and r.values["class"] in classes}
    return Projection(events, kept, {"student": students, "guardian": contacts,
                                     "staff": teachers, "class": taught},
                      errors, ignored)


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
