"""A student's report for a period, built from plain rows (no Flask, no database).

The stored snapshot keeps teachers' ids beside their names, so a teacher's erasure can take
their name out of every report; the API shows names only.
"""
from __future__ import annotations

from typing import Any, Iterable

GENERAL = "General"  # characteristics recorded without a class
Row = dict[str, Any]  # a plain row or snapshot part, as JSON holds it

KIND_ORDER = {"mark": 0, "grade": 1, "target": 2, "attitude": 0, "effort": 1,
              "behaviour": 2, "attendance": 3}


def build_report(student: Row, classes: dict[str, Row], teachers: dict[str, list[Row]],
                 attainment: Iterable[Row], characteristics: Iterable[Row]) -> Row:
    """The snapshot: student, then one entry per class the student has data in."""
    subjects: dict[str | None, dict[str, Any]] = {}

    def entry(class_id: str | None) -> dict[str, Any]:
        if class_id not in subjects:
            klass = classes.get(class_id) if class_id else None
            subjects[class_id] = {
                "class_id": class_id,
                "subject": klass["subject"] if klass else GENERAL,
                "class": klass["name"] if klass else None,
                "teachers": list(teachers.get(class_id, [])) if class_id else [],
                "attainment": [], "characteristics": []}
        return subjects[class_id]

    for row in attainment:
        item = {"kind": row["kind"], "value": row["value"]}
        if row.get("out_of") is not None:
            item["out_of"] = row["out_of"]
        if row.get("topic"):
            item["topic"] = row["topic"]
        entry(row["class_id"])["attainment"].append(item)
    for row in characteristics:
        entry(row.get("class_id"))["characteristics"].append(
            {"kind": row["kind"], "value": row["value"]})
    for subject in subjects.values():
        subject["attainment"].sort(key=lambda a: (a.get("topic") or "", KIND_ORDER[a["kind"]]))
        subject["characteristics"].sort(key=lambda c: KIND_ORDER[c["kind"]])
    ordered = sorted(subjects.values(),
                     key=lambda s: (s["subject"] == GENERAL, s["subject"], s["class"] or ""))
    return {"student": {"id": student["id"], "name": student.get("name"),
                        "form_group": student.get("form_group"),
                        "year_group": student.get("year_group")},  # None: not known
            "subjects": ordered}


def render(content: Row) -> Row:
    """The API's view of a snapshot: teachers as names."""
    return {"student": content["student"], "subjects": [
        {"subject": s["subject"], "class": s["class"],
         "teachers": [t["name"] for t in s["teachers"]],
         "attainment": s["attainment"], "characteristics": s["characteristics"]}
        for s in content["subjects"]]}


def without_teacher(content: Row, staff_id: str) -> Row:
    """The snapshot with one teacher's name taken out (their erasure)."""
    return {**content, "subjects": [
        {**s, "teachers": [t for t in s["teachers"] if t["id"] != staff_id]}
        for s in content["subjects"]]}
