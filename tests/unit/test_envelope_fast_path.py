"""The envelope's fast path never accepts what EnvelopeSchema rejects, and loads what it
accepts exactly as the schema does (hypothesis: producers' envelopes and mutations)."""
import uuid

from hypothesis import given, settings, strategies as st
from marshmallow import ValidationError

from shared.contracts.envelope import EnvelopeSchema, load_plain_envelope
from shared.messaging.envelope import new_envelope

SCHEMA = EnvelopeSchema()
SCHOOL = str(uuid.uuid4())
VALID = new_envelope("SchoolActivated", {"school_id": SCHOOL, "name": "A school"},
                     producer="identity", school_id=SCHOOL).to_wire()

odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 3), st.floats(allow_nan=False),
    st.text(max_size=12), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from([
        str(uuid.uuid4()).upper(), "{" + str(uuid.uuid4()) + "}", str(uuid.uuid4()) + "\n",
        "ParentVerified\n", "parentVerified", "linking\n", "Linking", "a",
        "2026-11-29T10:00:00+00:00", "2026-11-29T10:00:00.123456+00:00",
        "2026-02-30T10:00:00+00:00", "2026-11-29T10:00:00", "2026-11-29T10:00:00Z",
        "2026-11-29T25:00:00+00:00", "2026-11-29T10:00:00+01:00", "x" * 101, "",
        "corr\x00id", "corr id", "a-b.c:d_e"]))


def schema_load(raw):
    try:
        return SCHEMA.load(raw)
    except ValidationError:
        return None


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(sorted(VALID) + ["absent"]), value=odd_values,
       drop=st.booleans())
def test_fast_path_agrees_with_the_schema(field, value, drop):
    raw = dict(VALID)
    if field != "absent":
        if drop:
            raw.pop(field)
        else:
            raw[field] = value
    fast = load_plain_envelope(raw)
    if fast is not None:
        assert fast == schema_load(raw)


def test_producers_envelopes_take_the_fast_path():
    assert load_plain_envelope(dict(VALID)) == SCHEMA.load(dict(VALID))
    no_school = new_envelope("SchoolActivated", {"school_id": SCHOOL, "name": "A school"},
                             producer="identity", school_id=None)
    assert no_school.to_wire()["school_id"] is None
    assert load_plain_envelope(no_school.to_wire()) is not None
