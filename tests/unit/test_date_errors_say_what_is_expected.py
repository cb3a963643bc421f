"""Issue 24: a refused date or timestamp says what was expected, with an example, and never
repeats the value (it may be a date of birth)."""
import pytest
from marshmallow import Schema, ValidationError

from shared.contracts.fields import StrictDate, UtcDateTime


class _Dates(Schema):
    born = StrictDate()
    at = UtcDateTime()


@pytest.mark.parametrize("value", ["02/03/2015", "2015-3-2", 20150302, "2015-02-30"])
def test_a_bad_date_says_the_expected_format(value):
    with pytest.raises(ValidationError) as refused:
        _Dates().load({"born": value})
    (message,) = refused.value.messages["born"]
    assert "YYYY-MM-DD, for example 2015-03-02" in message
    assert str(value) not in message


@pytest.mark.parametrize("value", ["yesterday", "2026-03-02 9am", "2026-03-02T09:00:00"])
def test_a_bad_timestamp_says_the_expected_format(value):
    with pytest.raises(ValidationError) as refused:
        _Dates().load({"at": value})
    (message,) = refused.value.messages["at"]
    assert "for example 2026-03-02T09:00:00Z" in message
