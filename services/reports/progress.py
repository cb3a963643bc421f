"""Progress over the school year, from a student's published reports (plain rows: no Flask,
no database): each subject's grade against its target in every report, what changed since
the previous report, and attendance as a percentage (issue 24).

A report's snapshot holds, per class, the attainment items (mark, grade, target) and the
characteristics; a period's point is the class's grade (else its mark as a percentage) and
its target.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from .domain import GENERAL, KIND_ORDER, Row

SCHOOL_YEAR = dt.timedelta(days=366)  # reports within a year of the newest one


def _number(value: Any) -> float | None:
    try:
        number = float(str(value).strip().rstrip("%"))
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # not NaN


def standing(value: Any, target: Any) -> str | None:
    """"below", "on" or "above" target, when both are numbers; else None (unknown)."""
    have, want = _number(value), _number(target)
    if have is None or want is None:
        return None
    return "below" if have < want else "above" if have > want else "on"


def change(before: Any, after: Any) -> str | None:
    """"up", "down", "same" between two reports; None when it cannot be said."""
    if before is None or after is None:
        return None
    old, new = _number(before), _number(after)
    if old is None or new is None:
        return "same" if str(before) == str(after) else "changed"
    return "up" if new > old else "down" if new < old else "same"


def _first(subject: Row, kind: str) -> Any:
    return next((a["value"] for a in subject.get("attainment", []) if a["kind"] == kind), None)


def _point(subject: Row) -> Row:
    """A class's grade (else its first mark as a percentage) and target in one report."""
    grade = _first(subject, "grade")
    if grade is None:
        marks = [a for a in subject.get("attainment", []) if a["kind"] == "mark"
                 and a.get("out_of") and _number(a["value"]) is not None]
        if marks:
            grade = f"{round(100 * (_number(marks[0]['value']) or 0) / marks[0]['out_of'])}%"
    target = _first(subject, "target")
    return {"grade": grade, "target": target, "standing": standing(grade, target)}


def _attendance(content: Row) -> float | None:
    for subject in content.get("subjects", []):
        for item in subject.get("characteristics", []):
            if item["kind"] == "attendance":
                return _number(item["value"])
    return None


def school_year(rows: list[Row]) -> list[Row]:
    """The reports (oldest first) published within a year of the newest one."""
    rows = sorted(rows, key=lambda r: (r["published_at"], r["id"]))
    if not rows:
        return []
    since = rows[-1]["published_at"] - SCHOOL_YEAR
    return [r for r in rows if r["published_at"] >= since]


def progress(rows: list[Row]) -> Row:
    """`rows`: id, period, title, published_at, content of the student's visible reports.
    Each subject's grades against target; each characteristic's values (`characteristics`)."""
    year = school_year(rows)
    periods = [{"report_id": r["id"], "period": r["period"], "title": r["title"],
                "published_at": r["published_at"], "attendance": _attendance(r["content"])}
               for r in year]
    subjects: dict[tuple, Row] = {}
    for index, report in enumerate(year):
        for subject in report["content"].get("subjects", []):
            if subject["subject"] == GENERAL:
                continue
            key = (subject["subject"], subject.get("class"))
            entry = subjects.setdefault(key, {"subject": key[0], "class": key[1],
                                              "points": [None] * len(year)})
            entry["points"][index] = {**_point(subject), "period": report["period"]}
    ordered = sorted(subjects.values(), key=lambda s: (s["subject"], s["class"] or ""))
    for entry in ordered:
        entry["change"] = _latest_change(entry["points"])
        entry["points"] = [p or {"period": year[i]["period"], "grade": None, "target": None,
                                 "standing": None} for i, p in enumerate(entry["points"])]
    return {"periods": periods, "subjects": ordered, "characteristics": _characteristics(year)}


def _characteristics(year: list[Row]) -> list[Row]:
    """Attitude, effort and behaviour (attendance is the period's own figure), per subject
    (General: without a class) and kind, in every report of the year, and what changed."""
    found: dict[tuple, list[Any]] = {}
    for index, report in enumerate(year):
        for subject in report["content"].get("subjects", []):
            for item in subject.get("characteristics", []):
                if item["kind"] != "attendance":
                    key = (subject["subject"], subject.get("class"), item["kind"])
                    found.setdefault(key, [None] * len(year))[index] = item["value"]
    ordered = sorted(found, key=lambda k: (k[0] == GENERAL, k[0], k[1] or "", KIND_ORDER[k[2]]))
    return [{"subject": subject, "class": class_, "kind": kind,
             "points": [{"period": year[i]["period"], "value": v}
                        for i, v in enumerate(found[(subject, class_, kind)])],
             "change": _value_change(found[(subject, class_, kind)])}
            for subject, class_, kind in ordered]


def _value_change(values: list[Any]) -> Row | None:
    if len(values) < 2 or values[-1] is None or values[-2] is None:
        return None
    return {"before": values[-2], "after": values[-1],
            "direction": change(values[-2], values[-1])}


def _latest_change(points: list[Row | None]) -> Row | None:
    """Between the last two reports: the grade before and after, and which way."""
    if len(points) < 2 or points[-1] is None or points[-2] is None:
        return None
    before, after = points[-2]["grade"], points[-1]["grade"]
    return {"before": before, "after": after, "direction": change(before, after)}
