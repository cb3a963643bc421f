import pytest

from shared import contracts
from shared.contracts import ContractError
from shared.messaging.envelope import new_envelope, parse_envelope

S = "00000000-0000-4000-8000-000000000001"
T = "00000000-0000-4000-8000-000000000002"


def verified(**over):
    data = {"link_id": S, "account_id": S, "guardian_id": S, "student_id": T,
            "record_version": 1}
    data.update(over)
    return data


def test_every_catalogue_event_has_a_versioned_schema_and_routing_key():
    names = {c.type for c in contracts.CONTRACTS}
    for required in ("SchoolActivated", "SchoolOffboarded", "StudentRecorded",
                     "StudentRemoved", "StudentBirthDateRecorded", "GuardianRecorded",
                     "GuardianRemoved", "StaffRecorded", "StaffRemoved", "ClassRecorded",
                     "ClassRemoved", "AttainmentRecorded", "CharacteristicRecorded",
                     "InvitationIssued", "AccountActivated", "ParentVerified", "LinkRevoked",
                     "LinkLocked", "ReportPublished", "ErasureRequested", "ErasureCompleted",
                     "AccessRequested", "SubjectDataExported", "ProcessingRestricted",
                     "RestrictionLifted", "RestrictionApplied", "ObjectionRecorded",
                     "ObjectionApplied", "OffboardingCompleted"):
        assert required in names
    assert contracts.latest("ParentVerified").routing_key() == "linking.parent_verified"
    assert contracts.latest("ErasureCompleted").routing_key("reports") == \
        "reports.erasure_completed"
    assert contracts.latest("ErasureCompleted").binding_key == "*.erasure_completed"


def test_date_of_birth_travels_only_to_linking():
    for contract in contracts.CONTRACTS:
        if "date_of_birth" in contract.schema._declared_fields:
            assert contract.consumers == ("linking",), contract.type


def test_envelope_round_trip_and_tolerant_reader():
    env = new_envelope("ParentVerified", verified(), producer="linking", school_id=S)
    wire = env.to_wire()
    wire["data"]["shoe_size"] = 9  # unknown fields are ignored
    wire["surprise"] = True
    parsed, loaded = parse_envelope(__import__("json").dumps(wire))
    assert parsed.id == env.id and parsed.type == "ParentVerified"
    assert loaded["student_id"] == T and "shoe_size" not in loaded
    assert parsed.correlation_id == env.id


def test_event_failing_its_schema_is_refused_with_the_reason():
    with pytest.raises(ContractError) as err:
        new_envelope("ParentVerified", verified(student_id="not-a-uuid"), producer="linking",
                     school_id=S)
    assert "student_id" in str(err.value)


def test_producer_must_match_the_contract():
    with pytest.raises(ContractError):
        new_envelope("ParentVerified", verified(), producer="reports", school_id=S)


@pytest.mark.parametrize("body,reason", [
    (b"\xff\xfe", "UTF-8"), ("not json", "JSON"), ("[1]", "object"),
    ('{"id": "x"}', "envelope invalid"),
])
def test_undecodable_deliveries_are_refused(body, reason):
    with pytest.raises(ContractError) as err:
        parse_envelope(body)
    assert reason in str(err.value)


def test_unknown_version_is_refused():
    env = new_envelope("ParentVerified", verified(), producer="linking", school_id=S)
    wire = env.to_wire()
    wire["version"] = 2
    with pytest.raises(ContractError, match="unknown event type/version"):
        parse_envelope(wire)


@pytest.mark.parametrize("value", ["2023-02-29", "0000-01-01", "2020-1-01", "2020-01-01T00"])
def test_dates_must_be_real(value):
    with pytest.raises(ContractError):
        contracts.validate_data("StudentBirthDateRecorded", 1,
                                {"student_id": S, "record_version": 1, "date_of_birth": value})


@pytest.mark.parametrize("name", ["Ann\x00", "A\u202eB", "x" * 201])
def test_names_refuse_control_characters_bidi_overrides_and_excess_length(name):
    with pytest.raises(ContractError):
        contracts.validate_data("StudentRecorded", 1, {"student_id": S, "record_version": 1,
                                                       "given_name": name, "family_name": "B"})
