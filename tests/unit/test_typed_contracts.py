"""The typed event data (shared/contracts/typed.py) is derived from the marshmallow schemas
and current: a field added to a schema is in its class once the generator runs, and a
handler reading a field that is not there fails the type check (tests/unit/test_code_habits)."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from shared.contracts import CONTRACTS, codegen, latest, typed, validate_data
from shared.messaging.envelope import new_envelope


def test_the_committed_file_is_what_the_generator_writes():
    assert codegen.TARGET.read_text(encoding="utf-8") == codegen.generate(), (
        "shared/contracts/typed.py is not current: run python -m shared.contracts.codegen")


@pytest.mark.parametrize("event_type", sorted({c.type for c in CONTRACTS}))
def test_each_event_has_a_class_with_its_schemas_fields(event_type):
    cls = typed.BY_TYPE[event_type]
    assert cls.event_type == event_type
    names = {f.name for f in dataclasses.fields(cls)}
    assert names == set(latest(event_type).schema().fields)


def test_loaded_data_becomes_the_typed_object_nested_parts_included():
    env = new_envelope("ResultsRecorded", {
        "student_id": "00000000-0000-4000-8000-000000000001",
        "attainment": [{"attainment_id": "00000000-0000-4000-8000-000000000002",
                        "class_id": "00000000-0000-4000-8000-000000000003",
                        "period": "Autumn", "kind": "mark", "value": "7",
                        "record_version": 1}]},
        producer="ingest", school_id="00000000-0000-4000-8000-00000000000a")
    data = typed.ResultsRecorded.load(validate_data(env.type, env.version, env.data))
    assert isinstance(data.attainment[0], typed.ResultsRecordedAttainment)
    assert data.attainment[0].out_of is None and data.characteristics == []
    with pytest.raises(TypeError):  # read by attribute only: no second way by key
        data["student_id"]  # type: ignore[index]
    revoked = typed.TokensRevoked.load(validate_data("TokensRevoked", 1, {
        "subject_id": "00000000-0000-4000-8000-000000000001", "reason": "logout",
        "revoked_before": "2026-01-01T00:00:00+00:00",
        "expires_at": "2026-01-01T00:15:00+00:00"}))
    assert isinstance(revoked.expires_at, dt.datetime)
