"""Reading a bundle: the zip, its manifest, and every row of every file the manifest names,
each fault reported by file and line. Bounds keep one upload's memory bounded."""
from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Iterable

from .fields import (FILES, MAX_MEMBERS, MAX_RECORD_CHARS, MAX_REPORTED_ERRORS, MAX_ROWS,
                     MAX_UNZIPPED_BYTES, MODES, SPECS, BundleRejected, FileSpec, Row, _error,
                     _sourced_id)

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
        if len(names) > MAX_MEMBERS:  # each would be listed back as not used
            raise BundleRejected([_error("bundle", None, f"The zip holds {len(names)} files; "
                                         f"a OneRoster bundle holds its manifest and one "
                                         f"CSV per file it names (at most {MAX_MEMBERS}).")])
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
            record = _RecordLines(text)
            reader = csv.reader(record, strict=True)
            while True:
                start = reader.line_num + 1
                record.begin(start)
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
    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.line = line


class _RecordLines:
    """The lines csv.reader splits, read at most MAX_RECORD_CHARS of one record at a
    time: a record of millions of empty fields zips to a few kilobytes but would take
    gigabytes once split, so one longer than that is refused before it is split. The
    reader asks for the lines of one record at a time (`begin` starts the next)."""

    def __init__(self, text: io.TextIOBase):
        self.text, self.used, self.line = text, 0, 1

    def begin(self, line: int) -> None:
        self.used, self.line = 0, line

    def __iter__(self) -> "_RecordLines":
        return self

    def __next__(self) -> str:
        line = self.text.readline(MAX_RECORD_CHARS - self.used + 1)
        if not line:
            raise StopIteration
        self.used += len(line)
        if self.used > MAX_RECORD_CHARS:
            raise _Unreadable(f"Longer than {MAX_RECORD_CHARS} characters (a row that "
                              "long is not a OneRoster row).", self.line)
        return line


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
    properties = _manifest_properties(reader)
    errors: list[dict] = []
    warnings: list[dict] = []
    version = properties.get("oneroster.version", ("", 1))
    if version[0] not in VERSION_FILES:
        errors.append(_error("manifest.csv", version[1], "oneroster.version: 1.2 (or 1.1)."))
    incomplete = bool(errors)
    modes, unknown = _manifest_modes(properties, reader, errors)
    unnamed = _files_not_named(properties, version[0], errors, warnings)
    if not modes and not errors:
        errors.append(_error("manifest.csv", None, "Names no file as bulk or delta."))
    return modes, errors, warnings, incomplete or unknown or unnamed


def _manifest_properties(reader: _Reader) -> dict[str, tuple[str, int]]:
    """propertyName -> (value, line); a manifest missing, unreadable or without its header
    rejects the bundle."""
    if "manifest.csv" not in reader.members:
        raise BundleRejected([_error("manifest.csv", None, "Missing: a OneRoster bundle "
                                     "starts with its manifest.")])
    try:
        records = list(reader.records("manifest.csv"))
    except _Unreadable as exc:
        raise BundleRejected([_error("manifest.csv", exc.line, str(exc))]) from None
    if not records or [c.strip() for c in records[0][1][:2]] != ["propertyName", "value"]:
        raise BundleRejected([_error("manifest.csv", 1, "The header is propertyName,value.")])
    return {values[0].strip(): (values[1].strip(), line)
            for line, values in records[1:] if len(values) >= 2}


def _manifest_modes(properties: dict[str, tuple[str, int]], reader: _Reader,
                    errors: list[dict]) -> tuple[dict[str, str], bool]:
    """(file name -> bulk | delta for the files taken and in the zip, whether a fault
    leaves a file taken unknown)."""
    modes: dict[str, str] = {}
    unknown = False
    for name, (value, line) in properties.items():
        if not name.startswith("file."):
            continue
        file = name[len("file."):]
        if value not in MODES:
            errors.append(_error("manifest.csv", line, f"{name}: bulk, delta or absent."))
            unknown = unknown or file in SPECS
        elif value != "absent" and file in SPECS:
            if f"{file}.csv" not in reader.members:
                errors.append(_error("manifest.csv", line, f"{name} is {value} but "
                                     f"{file}.csv is not in the zip."))
                unknown = True
            else:
                modes[file] = value
    return modes, unknown


def _files_not_named(properties: dict[str, tuple[str, int]], version: str,
                     errors: list[dict], warnings: list[dict]) -> bool:
    """The manifest names every file of its version: a file taken that it does not name is
    a fault (absent or forgotten cannot be told apart; returns True), another a warning."""
    unknown = False
    for file in VERSION_FILES.get(version, ()):
        if f"file.{file}" in properties:
            continue
        if file in SPECS:
            errors.append(_error("manifest.csv", None, f"file.{file}: Missing; the "
                                 "manifest names every file, as absent, bulk or delta."))
            unknown = True
        else:
            warnings.append(_error("manifest.csv", None, f"file.{file}: Missing (a file "
                                   "Pupil Progress does not take): read as absent."))
    return unknown


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


def _fault(bundle: Bundle, file: str, line: int | None, reason: str) -> None:
    bundle.errors.append(_error(file, line, reason))
    if len(bundle.errors) >= MAX_REPORTED_ERRORS:  # refused anyway: stop reading
        raise BundleRejected(bundle.errors)


def _read_file(spec: FileSpec, mode: str, reader: _Reader, bundle: Bundle,
               rows_seen: int) -> tuple[list[Row], int]:
    """The file's rows that are sound, and the count of rows read so far in the bundle;
    each fault goes to `bundle`."""
    rows: list[Row] = []
    try:
        records = iter(reader.records(spec.file))
        header_line, header = next(records, (1, []))
        header = [h.strip() for h in header]
        fault = _header_fault(spec, header)
        if fault:
            bundle.unreadable_files = True
            _fault(bundle, spec.file, header_line, fault)
            return [], rows_seen
        seen: dict[str, int] = {}  # sourcedId -> its line
        for line, values in records:
            rows_seen += 1
            if rows_seen > MAX_ROWS:
                raise BundleRejected([_error(spec.file, line, f"The bundle holds more than "
                                             f"{MAX_ROWS} rows.")])
            if values == [] or values == [""]:
                continue  # a blank line
            row = _take_record(spec, mode, header, line, values, seen, bundle)
            if row is not None:
                seen[row.sourced_id] = line
                rows.append(row)
        return rows, rows_seen
    except _Unreadable as exc:
        bundle.unreadable_files = True
        _fault(bundle, spec.file, exc.line, str(exc))
        return [], rows_seen


def _header_fault(spec: FileSpec, header: list[str]) -> str | None:
    """What is wrong with a file's header (columns missing, twice, or without a name)."""
    twice = sorted({c for c in header if c and header.count(c) > 1})
    unnamed = [str(n) for n, c in enumerate(header, 1) if not c]
    missing, faults = _missing_columns(spec, header), []
    if missing:
        faults.append(f"Missing column {', '.join(missing)}.")
    if twice:
        faults.append(f"Column {', '.join(twice)} given twice.")
    if unnamed:
        faults.append(f"Column {', '.join(unnamed)} of the header has no name.")
    return " ".join(faults) or None


def _missing_columns(spec: FileSpec, header: list[str]) -> list[str]:
    needs = ("sourcedId", "status", "dateLastModified", *spec.needs)
    missing = [c for c in needs if c not in header]
    if spec.any_of and not any(c in header for c in spec.any_of):
        missing.append(" or ".join(spec.any_of))
    return missing


def _take_record(spec: FileSpec, mode: str, header: list[str], line: int, values: list[str],
                 seen: dict[str, int], bundle: Bundle) -> Row | None:
    """One record as a row, or None: its fault is reported to `bundle`."""
    fitted = _fitted(spec, header, values, line, bundle)
    if fitted is None:
        return None
    raw = dict(zip(header, (v.strip() for v in fitted)))
    reasons: list[str] = []
    row = _read_row(spec, mode, raw, line, reasons)
    if row is not None and row.sourced_id in seen:
        reasons.append(f"sourcedId: Also on line {seen[row.sourced_id]}.")
    if not reasons:
        return row
    bundle.faulty_ids.add(raw["sourcedId"])
    if spec.name == "roles" and raw.get("userSourcedId"):
        # the user's role is not known: not "No role", nor rows naming them
        bundle.faulty_ids.add(raw["userSourcedId"])
    _fault(bundle, spec.file, line, "; ".join(reasons))
    return None


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


