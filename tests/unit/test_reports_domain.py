"""Building a report from rows alone."""
from services.reports import domain

CLASSES = {"c1": {"name": "7 Maths", "subject": "Maths"},
           "c2": {"name": "7 Art", "subject": "Art"}}
TEACHERS = {"c1": [{"id": "t1", "name": "Ms Ada Byron"}],
            "c2": [{"id": "t2", "name": "Mr Art Teacher"}, {"id": "t1", "name": "Ms Ada Byron"}]}


def build():
    return domain.build_report(
        {"id": "s1", "name": "Ann Lee", "form_group": "7A"}, CLASSES, TEACHERS,
        [{"class_id": "c1", "kind": "target", "value": "A"},
         {"class_id": "c1", "kind": "mark", "value": "12", "out_of": 20.0, "topic": None},
         {"class_id": "c2", "kind": "grade", "value": "B", "out_of": None, "topic": "Clay"}],
        [{"class_id": None, "kind": "attendance", "value": "96.5"},
         {"class_id": "c1", "kind": "effort", "value": "Good"},
         {"class_id": "c1", "kind": "attitude", "value": "Good"}])


def test_subjects_in_order_with_teachers_attainment_and_characteristics():
    report = domain.render(build())
    assert [s["subject"] for s in report["subjects"]] == ["Art", "Maths", "General"]
    maths = report["subjects"][1]
    assert maths["teachers"] == ["Ms Ada Byron"] and maths["class"] == "7 Maths"
    assert maths["attainment"] == [{"kind": "mark", "value": "12", "out_of": 20.0},
                                   {"kind": "target", "value": "A"}]
    assert [c["kind"] for c in maths["characteristics"]] == ["attitude", "effort"]
    assert report["subjects"][2] == {"subject": "General", "class": None, "teachers": [],
                                     "attainment": [], "characteristics": [
                                         {"kind": "attendance", "value": "96.5"}]}
    assert report["subjects"][0]["attainment"] == [{"kind": "grade", "value": "B",
                                                    "topic": "Clay"}]


def test_a_teachers_erasure_takes_their_name_out_of_every_subject():
    content = domain.without_teacher(build(), "t1")
    names = [t for s in domain.render(content)["subjects"] for t in s["teachers"]]
    assert names == ["Mr Art Teacher"]


def test_a_year_group_not_known_shows_as_such():
    assert domain.render(build())["student"]["year_group"] is None  # not sent: unknown
    known = domain.build_report({"id": "s1", "name": "Ann Lee", "form_group": "7A",
                                 "year_group": 7}, CLASSES, TEACHERS, [], [])
    assert domain.render(known)["student"]["year_group"] == 7
