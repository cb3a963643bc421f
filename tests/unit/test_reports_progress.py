"""Issue 24: progress over the school year from a student's reports (no database)."""
import datetime as dt

from services.reports.progress import change, progress, standing

T0 = dt.datetime(2026, 1, 10, tzinfo=dt.timezone.utc)


def _report(rid, period, days, maths_grade, maths_target, attendance=None, english=True):
    subjects = [{"subject": "Maths", "class": "7A Maths", "attainment": [
        {"kind": "mark", "value": "30", "out_of": 50, "topic": "A"},
        {"kind": "grade", "value": maths_grade}, {"kind": "target", "value": maths_target}],
        "characteristics": []}]
    if english:
        subjects.append({"subject": "English", "class": "7A English", "attainment": [
            {"kind": "mark", "value": "36", "out_of": 40}], "characteristics": []})
    if attendance:
        subjects.append({"subject": "General", "class": None, "attainment": [],
                         "characteristics": [{"kind": "attendance", "value": attendance}]})
    return {"id": rid, "period": period, "title": f"{period} report",
            "published_at": T0 + dt.timedelta(days=days), "content": {"subjects": subjects}}


def test_each_subject_in_every_period_against_target_and_what_changed():
    rows = [_report("r2", "Spring", 90, "6", "6", "95.5"), _report("r1", "Autumn", 0, "5", "6"),
            _report("r0", "Last year", -400, "3", "4")]
    out = progress(rows)
    assert [p["period"] for p in out["periods"]] == ["Autumn", "Spring"]  # this school year
    assert [p["attendance"] for p in out["periods"]] == [None, 95.5]
    english, maths = out["subjects"]
    assert [(p["grade"], p["target"], p["standing"]) for p in maths["points"]] == [
        ("5", "6", "below"), ("6", "6", "on")]
    assert maths["change"] == {"before": "5", "after": "6", "direction": "up"}
    assert english["points"][0]["grade"] == "90%" and english["change"]["direction"] == "same"


def test_a_subject_missing_from_a_report_has_an_empty_point_and_no_change():
    out = progress([_report("r1", "Autumn", 0, "5", "6", english=False),
                    _report("r2", "Spring", 90, "6", "6")])
    english = next(s for s in out["subjects"] if s["subject"] == "English")
    assert english["points"][0]["grade"] is None and english["change"] is None
    assert progress([]) == {"periods": [], "subjects": [], "characteristics": []}


def test_words_for_standing_and_change():
    assert standing("7", "6") == "above" and standing("A", "B") is None
    assert change("B", "A") == "changed" and change("4", "3") == "down"


def _with_characteristics(report, effort, behaviour=None):
    for subject in report["content"]["subjects"]:
        if subject["subject"] == "Maths":
            subject["characteristics"] = [{"kind": "effort", "value": effort}]
    if behaviour:
        report["content"]["subjects"].append({"subject": "General", "class": None,
                                              "attainment": [], "characteristics": [
                                                  {"kind": "behaviour", "value": behaviour},
                                                  {"kind": "attendance", "value": "97"}]})
    return report


def test_characteristics_in_every_period_and_what_changed():
    out = progress([_with_characteristics(_report("r1", "Autumn", 0, "5", "6"), "Good", "3"),
                    _with_characteristics(_report("r2", "Spring", 90, "6", "6"),
                                          "Excellent", "4")])
    effort, behaviour = out["characteristics"]  # subjects first, General last
    assert (effort["subject"], effort["class"], effort["kind"]) == ("Maths", "7A Maths",
                                                                    "effort")
    assert [p["value"] for p in effort["points"]] == ["Good", "Excellent"]
    assert effort["change"] == {"before": "Good", "after": "Excellent",
                                "direction": "changed"}
    assert (behaviour["subject"], behaviour["kind"]) == ("General", "behaviour")
    assert behaviour["change"]["direction"] == "up"
    assert all(c["kind"] != "attendance" for c in out["characteristics"])


def test_a_characteristic_missing_from_the_latest_report_has_no_change():
    out = progress([_with_characteristics(_report("r1", "Autumn", 0, "5", "6"), "Good"),
                    _report("r2", "Spring", 90, "6", "6")])
    (effort,) = out["characteristics"]
    assert [p["value"] for p in effort["points"]] == ["Good", None]
    assert effort["change"] is None
