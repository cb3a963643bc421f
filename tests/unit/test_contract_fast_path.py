"""Every contract's quick loader never accepts what its schema rejects, and loads what it
accepts exactly as the schema does (hypothesis: well-formed values, odd values, fields
left out), so the fast path changes speed, never answers."""
import string

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from marshmallow import ValidationError, fields, validate

from shared.contracts import CONTRACTS, _quick, _schema
from shared.contracts.fastload import Unsure
from shared.contracts.fields import SafeEmail, SafeString, UuidString

FAST = [c for c in CONTRACTS if _quick(c.schema) is not None]

odd = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(), st.text(max_size=8),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.none(),
                                                         max_size=1),
    st.sampled_from(["", " ", "é", "a\nb", "a\x00", "\u202e", "x" * 300,
                     "ABCDEF00-0000-4000-8000-000000000000", "1", "true", "NaN", "1e3"]))


def well_formed(field: fields.Field):
    if isinstance(field, UuidString):
        return st.uuids().map(str)
    if isinstance(field, SafeEmail):
        return st.emails()
    if isinstance(field, SafeString):
        return st.one_of(st.text(alphabet=string.printable, max_size=8),
                         st.sampled_from(["x" * field.max_length,
                                          "x" * (field.max_length + 1)]))
    if isinstance(field, fields.List):
        return st.lists(st.one_of(well_formed(field.inner), odd), max_size=4)
    for validator in field.validators:
        if isinstance(validator, validate.OneOf):
            return st.sampled_from(list(validator.choices))
    if isinstance(field, fields.Integer):
        return st.integers(-2, 10)
    if isinstance(field, fields.Float):
        return st.one_of(st.floats(), st.integers(-5, 500))
    if isinstance(field, fields.Boolean):
        return st.booleans()
    return st.text(max_size=10)


def data_for(schema):
    names = sorted(schema.load_fields)
    values = st.fixed_dictionaries({
        name: st.one_of(well_formed(schema.load_fields[name]),
                        well_formed(schema.load_fields[name]), odd) for name in names})
    return st.tuples(values, st.sets(st.sampled_from(names + ["extra"]), max_size=2)).map(
        lambda pair: {k: v for k, v in {**pair[0], "extra": 1}.items() if k not in pair[1]})


@pytest.mark.parametrize("contract", FAST, ids=[c.type for c in FAST])
def test_quick_loader_agrees_with_the_schema(contract):
    schema, quick = _schema(contract.schema), _quick(contract.schema)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data_for(schema))
    def check(data):
        try:
            loaded = quick(data)
        except Unsure:
            return
        try:
            expected = schema.load(data)
        except ValidationError as err:
            raise AssertionError(f"quick loader accepted what the schema rejects: "
                                 f"{err.messages}") from None
        assert loaded == expected
    check()


def test_the_bulk_of_a_term_takes_the_quick_path():
    fast = {c.type for c in FAST}
    assert {"AttainmentRecorded", "CharacteristicRecorded", "StudentRecorded",
            "ParentVerified", "ClassRecorded"} <= fast
