"""Turning one pushed school event into integration events (DESIGN.md catalogue).

No Flask, no database: references are resolved through the `resolve` function given.
Each kind of personal data goes only into the event its consumers need: the date of birth
only into StudentBirthDateRecorded (linking), a student's email only into
StudentAccountRequested (identity).
"""
from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any, Callable, NamedTuple


class Kind(NamedTuple):
    """What a pushed type is: the record it is about, and whether it deletes it."""
    record_type: str
    deleted: bool


# Pushed type -> its kind
KINDS: dict[str, Kind] = {
    "student.upserted": Kind("student", False), "student.deleted": Kind("student", True),
    "guardian.upserted": Kind("guardian", False), "guardian.deleted": Kind("guardian", True),
    "staff.upserted": Kind("staff", False), "staff.deleted": Kind("staff", True),
    "class.upserted": Kind("class", False), "class.deleted": Kind("class", True),
    "attainment.recorded": Kind("attainment", False),
    "characteristic.recorded": Kind("characteristic", False),
}


class JobStatus(StrEnum):
    """A OneRoster upload's job (jobs.py)."""
    QUEUED = "queued"
    APPLYING = "applying"  # answered while the worker applies it; never stored
    APPLIED = "applied"
    REFUSED = "refused"    # its data was refused: faults by file and line
    FAILED = "failed"      # failed MAX_ATTEMPTS times for a reason other than its data


REMOVED = {"student": "StudentRemoved", "guardian": "GuardianRemoved",
           "staff": "StaffRemoved", "class": "ClassRemoved"}

Resolve = Callable[[str, str], str]  # (record type, source id) -> UUID
Events = list[tuple[str, dict[str, Any]]]


def translate(kind: str, record_id: str, data: dict[str, Any], resolve: Resolve) -> Events:
    """The integration events (type, data without record_version) for one pushed event."""
    record_type, deleted = KINDS[kind]
    if deleted:
        return [(REMOVED[record_type], {f"{record_type}_id": record_id})]
    return TRANSLATIONS[record_type](record_id, data, resolve)


def _student(record_id: str, data: dict[str, Any], resolve: Resolve) -> Events:
    events: Events = [
        ("StudentRecorded", {"student_id": record_id, "given_name": data["given_name"],
                             "family_name": data["family_name"]}),
        ("StudentPlacementRecorded", {"student_id": record_id,
                                      "form_group": data["form_group"],
                                      "year_group": data["year_group"]}),
    ]
    if data.get("date_of_birth"):  # none sent: the links wait for one
        events.append(("StudentBirthDateRecorded", {
            "student_id": record_id, "date_of_birth": data["date_of_birth"].isoformat()}))
    if data.get("email"):
        events.append(("StudentAccountRequested", {"student_id": record_id,
                                                   "email": data["email"]}))
    return events


def _guardian(record_id: str, data: dict[str, Any], resolve: Resolve) -> Events:
    return [
        ("GuardianRecorded", {"guardian_id": record_id, "given_name": data["given_name"],
                              "family_name": data["family_name"],
                              "email": data["email"]}),
        ("GuardianStudentsRecorded", {"guardian_id": record_id, "students": [
            {"student_id": resolve("student", child["student_id"]),
             "relationship": child["relationship"],
             "receives_reports": child["receives_reports"]}
            for child in data["students"]]}),
    ]


def _staff(record_id: str, data: dict[str, Any], resolve: Resolve) -> Events:
    return [("StaffRecorded", {"staff_id": record_id, "title": data["title"],
                               "given_name": data["given_name"],
                               "family_name": data["family_name"]})]


def _class(record_id: str, data: dict[str, Any], resolve: Resolve) -> Events:
    return [("ClassRecorded", {
        "class_id": record_id, "name": data["name"], "subject": data["subject"],
        "teacher_ids": [resolve("staff", s) for s in data["teacher_ids"]],
        "student_ids": [resolve("student", s) for s in data["student_ids"]]})]


def _attainment(record_id: str, data: dict[str, Any], resolve: Resolve) -> Events:
    return [("AttainmentRecorded", {
        "attainment_id": record_id, "student_id": resolve("student", data["student_id"]),
        "class_id": resolve("class", data["class_id"]), "period": data["period"],
        "kind": data["kind"], "value": data["value"], "out_of": data["out_of"],
        "topic": data["topic"]})]


def _characteristic(record_id: str, data: dict[str, Any], resolve: Resolve) -> Events:
    return [("CharacteristicRecorded", {
        "characteristic_id": record_id, "student_id": resolve("student", data["student_id"]),
        "class_id": resolve("class", data["class_id"]) if data["class_id"] else None,
        "period": data["period"], "kind": data["kind"], "value": data["value"]})]


# Record type -> the integration events a pushed record of that type becomes.
TRANSLATIONS: dict[str, Callable[[str, dict[str, Any], Resolve], Events]] = {
    "student": _student, "guardian": _guardian, "staff": _staff, "class": _class,
    "attainment": _attainment, "characteristic": _characteristic,
}


def references(kind: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    """(record type, source id) of every record this event's data refers to."""
    record_type, deleted = KINDS[kind]
    if deleted:
        return []
    if record_type == "guardian":
        return [("student", child["student_id"]) for child in data["students"]]
    if record_type == "class":
        return ([("staff", s) for s in data["teacher_ids"]]
                + [("student", s) for s in data["student_ids"]])
    if record_type in ("attainment", "characteristic"):
        refs = [("student", data["student_id"])]
        if data.get("class_id"):
            refs.append(("class", data["class_id"]))
        return refs
    return []


# json.dumps(..., sort_keys=True, default=str), built once: json.dumps builds an encoder
# per call when given options, a good part of the cost for one record's events.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, default=str)


def content_hash(school_id: str, record_id: str, events: Events) -> str:
    """Identifies the content a record was last published with (salted by its ids, so the
    hash of a name cannot be looked up in a table of common names' hashes)."""
    canonical = _CANONICAL_JSON.encode([school_id, record_id, events])
    return hashlib.sha256(canonical.encode()).hexdigest()


def source_key(school_id: str, record_type: str, source_id: str) -> str:
    """The school's source id is kept only as this hash (it may be a national pupil
    number)."""
    return hashlib.sha256(f"{school_id}\x1f{record_type}\x1f{source_id}".encode()).hexdigest()


def body_hash(body: Any) -> str:
    return hashlib.sha256(_CANONICAL_JSON.encode(body).encode()).hexdigest()
