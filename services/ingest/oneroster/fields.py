"""OneRoster's files and their fields: what each file must carry and how a row's fields are
checked, with the push's own schemas field by field (partial loads), so a fault is named by
the OneRoster column. `FILES` is the order they are applied in."""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Callable

from marshmallow import ValidationError

from .. import schemas


# A large school's bundle: ~2,000 students with a term of results is ~25 MB of CSV and
# ~200,000 rows. These bounds leave room and keep one upload's memory bounded.
MAX_BUNDLE_BYTES = 64 * 1024 * 1024  # the zip as uploaded
MAX_UNZIPPED_BYTES = 128 * 1024 * 1024  # all its CSVs together, however well they compress
MAX_ROWS = 500_000
MAX_REPORTED_ERRORS = 1000
MAX_RECORD_CHARS = 256 * 1024  # one CSV record (row), quoted line breaks and all
MAX_MEMBERS = 100  # files in the zip: the manifest and one CSV per file it names (22 at most)

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



def _checked(schema, values: dict[str, Any], columns: dict[str, str]) -> tuple[dict, list[str]]:
    """Load `values` with the push schema's fields; reasons name the OneRoster column."""
    try:
        return schema.load(values, partial=True), []
    except ValidationError as err:
        return {}, [f"{columns.get(name, name)}: {_said(msgs)}"
                    for name, msgs in sorted(err.messages.items())]


def _said(messages: Any) -> str:
    """A field's messages as one text (marshmallow gives a list, or a dict for nested)."""
    return " ".join(map(str, messages)) if isinstance(messages, list) else str(messages)


_SOURCE_ID = schemas.SourceId()
# The push's schemas, built once (building one costs more than a load).
_STUDENT = schemas.DATA_SCHEMAS["student.upserted"]
_CLASS = schemas.DATA_SCHEMAS["class.upserted"]
_ATTAINMENT = schemas.DATA_SCHEMAS["attainment.recorded"]


def _sourced_id(value: str, column: str, reasons: list[str], *,
                required: bool = True) -> str | None:
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
