"""Ingest's translation alone: each kind of personal data only where its consumers need it."""
from services.ingest import domain
from services.ingest.service import validate_event
from shared import contracts

def resolve(record_type, source_id):
    return f"{record_type}:{source_id}"


def loaded(event):
    outcome = validate_event(event)
    assert not isinstance(outcome, str), outcome
    return outcome


def test_a_student_becomes_four_events_and_only_one_carries_the_birth_date():
    kind, _, data = loaded({"type": "student.upserted", "source_id": "S1", "data": {
        "given_name": "Ann", "family_name": "Lee", "date_of_birth": "2015-03-02",
        "form_group": "7A", "year_group": 7, "email": "ann@example.org"}})
    events = dict(domain.translate(kind, "sid", data, resolve))
    assert set(events) == {"StudentRecorded", "StudentPlacementRecorded",
                           "StudentBirthDateRecorded", "StudentAccountRequested"}
    carrying_dob = [t for t, d in events.items() if "2015-03-02" in str(d)]
    assert carrying_dob == ["StudentBirthDateRecorded"]
    assert contracts.latest("StudentBirthDateRecorded").consumers == ("linking",)
    carrying_email = [t for t, d in events.items() if "ann@example.org" in str(d)]
    assert carrying_email == ["StudentAccountRequested"]


def test_references_are_resolved_to_ids():
    kind, _, data = loaded({"type": "class.upserted", "source_id": "C1", "data": {
        "name": "7A Maths", "subject": "Maths", "teacher_ids": ["T1"],
        "student_ids": ["S1", "S2"]}})
    ((event_type, out),) = domain.translate(kind, "cid", data, resolve)
    assert event_type == "ClassRecorded"
    assert out["teacher_ids"] == ["staff:T1"] and out["student_ids"] == ["student:S1",
                                                                       "student:S2"]
    assert domain.references(kind, data) == [("staff", "T1"), ("student", "S1"),
                                             ("student", "S2")]


def test_unknown_fields_are_refused_by_name_and_bad_ones_named_without_their_values():
    """Issue 24: a field we do not know is the school's mistake to hear of, by its name."""
    reason = validate_event({"type": "staff.upserted", "source_id": "T1", "data": {
        "title": "Dr", "given_name": "A", "family_name": "B", "shoe_size": 9}})
    assert reason == "data.shoe_size: Unknown field."
    assert validate_event({"type": "staff.upserted", "source_id": "T1", "extra": 1, "data": {
        "title": "Dr", "given_name": "A", "family_name": "B"}}) == "extra: Unknown field."
    child = validate_event({"type": "guardian.upserted", "source_id": "G1", "data": {
        "given_name": "Pat", "family_name": "Lee", "email": "pat@example.org", "students": [
            {"student_id": "S1", "relationship": "Mother", "receives_reports": True,
             "parental_responsibility": True}]}})
    assert child == "data.students.0.parental_responsibility: Unknown field."
    reason = validate_event({"type": "student.upserted", "source_id": "S1", "data": {
        "given_name": "Ann", "family_name": "Lee", "date_of_birth": "2023-02-29",
        "form_group": "7A", "year_group": "seven"}})
    assert "data.date_of_birth" in reason and "data.year_group" in reason
    assert "2023-02-29" not in reason and "seven" not in reason
    assert validate_event("not an object").startswith("event:")


def test_a_year_group_is_reception_to_year_13():
    """0 (Reception) to 13; out of that range is refused naming the field, not kept."""
    def student(year):
        return {"type": "student.upserted", "source_id": "S1", "data": {
            "given_name": "Ann", "family_name": "Lee", "form_group": "7A",
            "year_group": year}}
    for year in (0, 1, 7, 13, None):
        assert loaded(student(year))[2]["year_group"] == year
    for year in (17, 14, -1, 100):
        reason = validate_event(student(year))
        assert reason.startswith("data.year_group: A year group from 0 (Reception) to 13")
        assert str(year) not in reason


def test_the_content_hash_changes_with_content_and_is_salted_by_the_record():
    events = [("StudentRecorded", {"given_name": "Ann"})]
    first = domain.content_hash("school", "id-1", events)
    assert first == domain.content_hash("school", "id-1", events)
    assert first != domain.content_hash("school", "id-2", events)
    assert first != domain.content_hash("school", "id-1", [("StudentRecorded",
                                                             {"given_name": "Anne"})])


def test_source_ids_are_kept_only_as_hashes():
    key = domain.source_key("school", "student", "UPN-A123456789012")
    assert "A123456789012" not in key and len(key) == 64
    assert key != domain.source_key("other-school", "student", "UPN-A123456789012")
