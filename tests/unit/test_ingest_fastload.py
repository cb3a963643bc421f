"""Ingest's fast path for marshmallow loads (shared/contracts/fastload.py) never decides
otherwise than marshmallow: whatever it accepts, marshmallow accepts with the same result;
anything else it leaves to marshmallow. The events a school pushes take it, and the
events ingest publishes are built as new_envelope builds them (services/ingest/outgoing.py)."""
from __future__ import annotations

import datetime as dt
import json
import math
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from services.ingest import domain, outgoing, schemas
from shared.contracts import fastload
from services.ingest.service import validate_event
from shared import contracts
from shared.messaging.envelope import correlation_id_var, new_envelope

REFUSED = object()

# Values near the edges of what the push's fields take.
texts = st.one_of(
    st.text(max_size=5), st.text(max_size=120),
    st.text(st.characters(blacklist_categories=()), max_size=8),  # controls, surrogates
    st.sampled_from(["", " ", "7A", "a\u202eb", "x\x00", "Zoë", "\u00a0", "a\tb", "a\nb",
                     "ann@example.org", "ann@example.org\r\nBcc: x@example.org",
                     "not-an-email", "2015-03-02", "2023-02-29", "2015-3-2", "20150302",
                     "2015-W10-1", "mark", "grade", "MARK", "attitude", "x" * 100,
                     "x" * 101, "x" * 201]),
    st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()),
    st.dates().map(dt.date.isoformat))
numbers = st.one_of(st.integers(-3, 25), st.integers(), st.floats(),
                    st.sampled_from([0, 1, 100, 0.5, -1.0, math.inf, math.nan, 10 ** 400]))
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)), max_leaves=6)


def decides_as_marshmallow(schema, raw) -> None:
    fast = fastload.fast_path(schema)
    assert fast is not None
    try:
        expected = schema.load(raw)
    except ValidationError:
        expected = REFUSED
    try:
        loaded = fast(raw)
    except fastload.Unsure:
        return  # marshmallow decides
    assert expected is not REFUSED, (raw, loaded)
    assert loaded == expected


def mutated(example: dict) -> st.SearchStrategy:
    """The example with some of its fields (and maybe an unknown one) replaced or gone."""
    keys = st.sampled_from([*example, "unknown"])
    changes = st.dictionaries(keys, st.one_of(values, st.just(REFUSED)), max_size=3)
    return changes.map(lambda change: {k: v for k, v in {**example, **change}.items()
                                       if v is not REFUSED})


STUDENT = {"given_name": "Ann", "family_name": "Lee", "date_of_birth": "2015-03-02",
           "form_group": "7A", "year_group": 7, "email": "ann@example.org"}
PUSHED = {
    "student.upserted": STUDENT,
    "guardian.upserted": {"given_name": "Pat", "family_name": "Lee",
                          "email": "pat@example.org", "students": [
                              {"student_id": "S1", "relationship": "mother",
                               "receives_reports": True},
                              {"student_id": "S2", "relationship": "carer",
                               "receives_reports": False}]},
    "staff.upserted": {"title": "Ms", "given_name": "Di", "family_name": "Ho"},
    "class.upserted": {"name": "7A Maths", "subject": "Maths", "teacher_ids": ["T1"],
                       "student_ids": ["S1", "S2"]},
    "attainment.recorded": {"student_id": "S1", "class_id": "C1", "period": "2026 Autumn",
                            "kind": "mark", "value": "67", "out_of": 100,
                            "topic": "Fractions"},
    "characteristic.recorded": {"student_id": "S1", "class_id": None,
                                "period": "2026 Autumn", "kind": "effort", "value": "Good"},
    **{f"{t}.deleted": {} for t in ("student", "guardian", "staff", "class")},
}


def term() -> list[dict]:
    return [{"type": kind, "source_id": f"X{n}", "data": data}
            for n, (kind, data) in enumerate(PUSHED.items())]


def published() -> dict[str, dict]:
    """An example of each event ingest publishes, translated from PUSHED."""
    examples = {}
    for n, (kind, data) in enumerate(PUSHED.items()):
        loaded = schemas.DATA_SCHEMAS[kind].load(data)
        for event_type, out in domain.translate(kind, f"00000000-0000-4000-8000-{n:012d}",
                                                loaded, lambda t, s: f"{uuid4()}"):
            examples[event_type] = {**out, "record_version": 1}
    return examples


@pytest.mark.parametrize("kind", sorted(schemas.DATA_SCHEMAS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_pushed_data_is_judged_as_marshmallow_judges_it(kind, data):
    example = data.draw(mutated(PUSHED[kind]))
    if kind == "guardian.upserted" and data.draw(st.booleans()):  # inside a child, too
        child = data.draw(mutated(PUSHED[kind]["students"][0]))
        example = {**example, "students": [child]}
    decides_as_marshmallow(schemas.DATA_SCHEMAS[kind], example)


@settings(max_examples=100, deadline=None)
@given(raw=st.one_of(values, mutated({"type": "student.upserted", "source_id": "S1",
                                       "data": {"given_name": "Ann"}})))
def test_an_events_head_is_judged_as_marshmallow_judges_it(raw):
    decides_as_marshmallow(schemas.EVENT_HEAD, raw)


PUBLISHED = published()


@pytest.mark.parametrize("event_type", sorted(PUBLISHED))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_the_contract_check_of_each_event_ingest_publishes_is_marshmallows(event_type, data):
    contract, check = outgoing._contract(event_type)
    assert check is not None  # the fast path knows every field of ingest's events
    decides_as_marshmallow(contracts._schema(contract.schema),
                           data.draw(mutated(PUBLISHED[event_type])))


UUID = "0b0e5b4c-6f3e-4d2a-9c1b-2a3b4c5d6e7f"
EDGES = [None, True, False, 0, 1, -1, 7, 21, 0.5, 100, 100.0, -0.0, math.inf, -math.inf,
         math.nan, 10 ** 400, "", " ", "7A", "a\u202eb", "x\x00", "Zoë", "\u00a0", "a\tb",
         "ann@example.org", "ann@example.org\r\nBcc: x@example.org", "not-an-email",
         "2015-03-02", "2023-02-29", "2015-3-2", "20150302", "2015-W10-1", "mark", "MARK",
         "effort", *("x" * n for n in (50, 51, 100, 101, 200, 201)), UUID, UUID.upper(),
         UUID[:24] + UUID[24:].upper(),
         UUID.replace("-", ""), [], ["S1"], [None], [1], ["x" * 101], ["S1"] * 2001, {},
         {"a": 1}, [{"student_id": "S1", "relationship": "m", "receives_reports": True}],
         [{"student_id": "S1", "relationship": "m", "receives_reports": 1}]]


def each_edge(example: dict, field_names):
    """The example with one field at a time missing or set to each edge value."""
    for name in sorted({*example, *field_names, "unknown"}):
        yield {k: v for k, v in example.items() if k != name}
        for value in EDGES:
            yield {**example, name: value}


@pytest.mark.parametrize("kind", sorted(schemas.DATA_SCHEMAS))
def test_pushed_data_at_the_edges_is_judged_as_marshmallow_judges_it(kind):
    schema = schemas.DATA_SCHEMAS[kind]
    for raw in each_edge(PUSHED[kind], schema.load_fields):
        decides_as_marshmallow(schema, raw)
    if kind == "guardian.upserted":
        child_schema = schema.load_fields["students"].inner.schema
        for child in each_edge(PUSHED[kind]["students"][0], child_schema.load_fields):
            decides_as_marshmallow(schema, {**PUSHED[kind], "students": [child]})


@pytest.mark.parametrize("event_type", sorted(PUBLISHED))
def test_published_data_at_the_edges_is_judged_as_marshmallow_judges_it(event_type):
    contract, _ = outgoing._contract(event_type)
    schema = contracts._schema(contract.schema)
    for raw in each_edge(PUBLISHED[event_type], schema.load_fields):
        decides_as_marshmallow(schema, raw)


def test_a_schools_term_takes_the_fast_path_and_loads_as_marshmallow_loads():
    for event in term():
        head = fastload.fast_path(schemas.EVENT_HEAD)(event)
        loaded = fastload.fast_path(schemas.DATA_SCHEMAS[head["type"]])(head["data"])
        assert loaded == schemas.DATA_SCHEMAS[head["type"]].load(event["data"])
        assert validate_event(event) == (event["type"], event["source_id"], loaded)
    for event_type, data in PUBLISHED.items():
        contract, check = outgoing._contract(event_type)
        assert check(data) == contracts._schema(contract.schema).load(data)


def test_refusals_keep_marshmallows_reasons():
    reason = validate_event({"type": "student.upserted", "source_id": "S1", "data": {
        "given_name": "Ann", "family_name": "Lee", "date_of_birth": "2023-02-29",
        "form_group": "7A", "year_group": True}})
    assert reason == ("data.date_of_birth: Not a real date (no such day, or not written as "
                      "YYYY-MM-DD): expected year-month-day as YYYY-MM-DD, for example "
                      "2015-03-02.; "
                      "data.year_group: Not a valid integer.")


def test_events_are_built_as_new_envelope_builds_them():
    school = "5a0c1d2e-3f40-4152-8637-48596a7b8c9d"
    token = correlation_id_var.set("request-1")
    try:
        builder = outgoing.EventBuilder(school)
        for event_type, data in PUBLISHED.items():
            built = builder.build(event_type, data)
            if event_type in ("AttainmentRecorded", "CharacteristicRecorded"):
                (built,) = builder.gather_results([built])  # results travel gathered
                assert built.type == "ResultsRecorded"
                event_type, data = built.type, built.data
            reference = new_envelope(event_type, data, producer="ingest", school_id=school)
            assert built.id != reference.id and built.correlation_id == "request-1"
            wire, expected = json.loads(built.to_json()), json.loads(reference.to_json())
            for varies in ("id", "occurred_at"):
                del wire[varies], expected[varies]
            assert wire == expected
    finally:
        correlation_id_var.reset(token)
    assert builder.build(event_type, data).correlation_id == "request-1"  # the batch's
    bad = {**PUBLISHED["StudentRecorded"], "given_name": "Nul\x00"}
    with pytest.raises(contracts.ContractError, match="given_name"):
        builder.build("StudentRecorded", bad)
    with pytest.raises(contracts.ContractError):  # not an event ingest produces
        builder.build("ParentVerified", {})


def test_a_schema_with_hooks_or_validators_of_its_own_is_left_to_marshmallow():
    """A hook may change or refuse anything: the fast path does not know it, so it steps
    aside (found through marshmallow's public decorator marks, not its private state)."""
    from marshmallow import Schema, fields, pre_load, validates_schema

    class Plain(Schema):
        name = fields.String(required=True)

    class Trimmed(Plain):
        @pre_load
        def trim(self, data, **kwargs):
            return {k: v.strip() for k, v in data.items()}

    class Checked(Plain):
        @validates_schema
        def check(self, data, **kwargs):
            pass

    assert fastload.fast_path(Plain()) is not None
    assert fastload.fast_path(Trimmed()) is None and fastload.fast_path(Checked()) is None
    assert fastload.loader(Trimmed())({"name": "  x "}) == {"name": "x"}


# --- timestamps: the events identity and reports publish (InvitationIssued, ReportPublished,
# …) carry UtcDateTime fields; their producers and consumers check them on the fast path too.
INVITATION = {"invitation_id": UUID, "account_id": UUID, "role": "parent",
              "guardian_ids": [UUID], "student_ids": [], "name": "Pat Lee",
              "email": "pat@example.org", "token": "t" * 43,
              "expires_at": "2026-12-13T21:00:00.123456+00:00", "existing_login": False}
STAMP_EDGES = ["2026-12-13T21:00:00+00:00", "2026-12-13T21:00:00.123456+00:00",
               "2026-12-13T21:00:00Z", "2026-12-13T21:00:00.123+00:00",
               "2026-12-13T21:00:00.1234567+00:00", "2026-12-13 21:00:00+00:00",
               "2026-12-13T21:00:00+01:00", "2026-12-13T21:00:00-00:00",
               "2026-12-13T21:00:00", "2026-02-30T21:00:00+00:00", "2026-12-13T24:00:00+00:00",
               "0000-12-13T21:00:00+00:00", "2026-12-13T21:00:60+00:00",
               "\u0662026-12-13T21:00:00+00:00", "2026-12-13T21:00:00+00:00\n", "2026-12-13",
               1765659600, None, ""]
stamps = st.one_of(
    st.datetimes(timezones=st.just(dt.timezone.utc)).map(dt.datetime.isoformat),
    st.datetimes(timezones=st.timedeltas(dt.timedelta(hours=-23), dt.timedelta(hours=23))
                 .map(dt.timezone)).map(dt.datetime.isoformat),
    st.datetimes().map(dt.datetime.isoformat), texts)


def test_an_event_with_a_timestamp_takes_the_fast_path():
    from shared.contracts.events import InvitationIssued
    schema = contracts._schema(InvitationIssued)
    assert fastload.fast_path(schema) is not None  # marshmallow for every mail, before
    loaded = fastload.fast_path(schema)(INVITATION)
    assert loaded == schema.load(INVITATION)
    assert loaded["expires_at"].tzinfo == dt.timezone.utc
    for raw in each_edge(INVITATION, ["expires_at"]):
        decides_as_marshmallow(schema, raw)
    for stamp in STAMP_EDGES:
        decides_as_marshmallow(schema, {**INVITATION, "expires_at": stamp})


@settings(max_examples=200, deadline=None)
@given(stamp=stamps)
def test_timestamps_are_judged_as_marshmallow_judges_them(stamp):
    from shared.contracts.events import InvitationIssued
    decides_as_marshmallow(contracts._schema(InvitationIssued),
                           {**INVITATION, "expires_at": stamp})
