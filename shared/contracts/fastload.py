"""A fast path for `Schema.load` on plain, valid input: a school's batch (ingest's push
schemas) and every event's data (the contracts, checked by producers and consumers).

Marshmallow spends most of a 5,000-event batch in its own machinery (error stores,
getters, hooks), not in the checks themselves. `loader(schema)` reads the schema's fields
once and returns a `load` that checks plain input directly. Whenever the fast path meets
anything it is not sure of (a wrong type, a failed check, a field type or schema option it
does not know) it gives up and `schema.load` itself decides, so what is accepted, what is
refused and every error message stay marshmallow's. The fast path only ever accepts what
marshmallow accepts, with the same result (tests/unit/test_ingest_fastload.py).
"""
from __future__ import annotations

import datetime as dt
import functools
import math
import re
from typing import Any, Callable

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate
from marshmallow.utils import missing

from shared.contracts.fields import (SafeEmail, SafeString, StrictBoolean, StrictDate,
                                     UtcDateTime, UuidString)


class Unsure(Exception):
    """The fast path cannot decide: marshmallow must."""


Load = Callable[[Any], Any]

_REQUIRED = object()  # in place of a missing field's default: it has none

_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# A UTC moment as producers write it (an aware UTC datetime's isoformat()).
_UTC_ISOFORMAT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?\+00:00")


def loader(schema: Schema) -> Callable[[Any], dict[str, Any]]:
    """`schema.load`, trying the fast path first (raises ValidationError as load does)."""
    fast = fast_path(schema)

    def load(raw: Any) -> dict[str, Any]:
        if fast is not None:
            try:
                loaded: dict[str, Any] = fast(raw)
                return loaded
            except Unsure:
                pass
        slow: dict[str, Any] = schema.load(raw)
        return slow
    return load


def fast_path(schema: Schema) -> Load | None:
    """A load that raises Unsure instead of judging anything unusual; None when the schema
    uses something the fast path does not know (then every load goes to marshmallow)."""
    if _has_hooks(type(schema)) or schema.many or schema.unknown not in (EXCLUDE, RAISE):
        return None
    plan = _plan(schema)
    return None if plan is None else _loader(plan, refuse_unknown=schema.unknown == RAISE)


# One field's step: (key in the input, key in the output, its load, its default).
Step = tuple[str, str, Callable[[Any], Any], Any]


def _plan(schema: Schema) -> list[Step] | None:
    """The schema's fields as steps, in its order; None if one is not known here."""
    plan: list[Step] = []
    for name, field in schema.load_fields.items():
        load_value = _field(field)
        out_key = field.attribute or name
        if load_value is None or "." in out_key:
            return None
        in_key = field.data_key if field.data_key is not None else name
        plan.append((in_key, out_key, load_value,
                     _REQUIRED if field.required else field.load_default))
    return plan


def _loader(plan: list[Step], refuse_unknown: bool) -> Load:
    known = {in_key for in_key, *_ in plan}

    def load(raw: Any) -> dict[str, Any]:
        if type(raw) is not dict or (refuse_unknown and not raw.keys() <= known):
            raise Unsure
        out = {}
        for in_key, out_key, load_value, default in plan:
            if in_key in raw:
                out[out_key] = load_value(raw[in_key])
            elif default is _REQUIRED:
                raise Unsure
            elif default is not missing:
                out[out_key] = default() if callable(default) else default
        return out
    return load


def _has_hooks(schema_class: type[Schema]) -> bool:
    """Whether the schema has pre/post_load, validates or validates_schema methods (not
    known here): marshmallow's decorators mark each with `__marshmallow_hook__`."""
    return any(hasattr(getattr(schema_class, name, None), "__marshmallow_hook__")
               for name in dir(schema_class))


def _field(field: fields.Field) -> Load | None:
    """`field.deserialize` for a present value, or None for a field type not known here."""
    build = _CONVERTERS.get(type(field))
    convert = build(field) if build else None
    if convert is None:
        return None
    checks = [_check(validator) for validator in field.validators]
    if not checks and not field.allow_none:
        return convert  # every converter refuses None itself
    allow_none = field.allow_none

    def load_value(value: Any) -> Any:
        if value is None:
            if allow_none:
                return None
            raise Unsure
        out = convert(value)
        for passes in checks:
            if not passes(out):
                raise Unsure
        return out
    return load_value


def _check(validator: Callable[[Any], Any]) -> Callable[[Any], bool]:
    """The validator as a test: the common ones inline, any other one called."""
    if type(validator) is validate.Length and validator.equal is None:
        low = validator.min if validator.min is not None else 0
        high = validator.max if validator.max is not None else math.inf
        return lambda value: low <= len(value) <= high
    if type(validator) is validate.OneOf:
        choices = tuple(validator.choices)
        return lambda value: value in choices
    if type(validator) is validate.Range:
        return functools.partial(_in_range, validator.min, validator.max,
                                 validator.min_inclusive, validator.max_inclusive)

    def passes(value: Any) -> bool:
        try:
            return validator(value) is not False
        except ValidationError:
            return False
    return passes


def _in_range(low: Any, high: Any, low_inclusive: bool, high_inclusive: bool,
              value: Any) -> bool:
    """validate.Range's test, in its own terms."""
    if low is not None and (value < low if low_inclusive else value <= low):
        return False
    return high is None or not (value > high if high_inclusive else value >= high)


def _raw(_field: fields.Field) -> Load:
    def convert(value: Any) -> Any:
        if value is None:  # allowed only when the field allows None (see _field)
            raise Unsure
        return value
    return convert


def _string(_field: fields.Field) -> Load:
    def convert(value: Any) -> str:
        if type(value) is not str:
            raise Unsure
        return value
    return convert


def _safe_string(field: SafeString) -> Load:
    max_length = field.max_length

    def convert(value: Any) -> str:
        # Printable text has no control, surrogate or bidi characters (all in categories
        # C*), so it passes SafeString; anything else is for SafeString itself to judge.
        if type(value) is not str or len(value) > max_length or not value.isprintable():
            raise Unsure
        return value
    return convert


def _uuid_string(_field: UuidString) -> Load:
    def convert(value: Any) -> str:
        # The canonical form is what UuidString would return for it.
        if type(value) is not str or not _CANONICAL_UUID.fullmatch(value):
            raise Unsure
        return value
    return convert


def _strict_date(_field: StrictDate) -> Load:
    def convert(value: Any) -> dt.date:
        if type(value) is not str or len(value) != 10:
            raise Unsure
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise Unsure from None
    return convert


def _utc_datetime(field: UtcDateTime) -> Load | None:
    if field.format not in (None, "iso", "iso8601"):
        return None

    def convert(value: Any) -> dt.datetime:
        # Only the form producers write (events carry their timestamps in UTC): a
        # timestamp with another offset, a "Z" or no zone is for UtcDateTime to judge.
        if type(value) is not str or not _UTC_ISOFORMAT.fullmatch(value):
            raise Unsure
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:  # 2026-02-30 and the like
            raise Unsure from None
        return moment.astimezone(dt.timezone.utc)
    return convert


def _integer(_field: fields.Integer) -> Load:
    def convert(value: Any) -> int:
        if type(value) is not int:  # not bool, not float: those marshmallow judges
            raise Unsure
        return value
    return convert


def _float(field: fields.Float) -> Load:
    allow_nan = field.allow_nan

    def convert(value: Any) -> float:
        if type(value) is not float and type(value) is not int:
            raise Unsure
        try:
            number = float(value)
        except OverflowError:
            raise Unsure from None
        if not allow_nan and not math.isfinite(number):
            raise Unsure
        return number
    return convert


def _boolean(field: fields.Boolean) -> Load | None:
    if True not in field.truthy or False not in field.falsy:
        return None

    def convert(value: Any) -> bool:
        if type(value) is not bool:
            raise Unsure
        return value
    return convert


def _dict(field: fields.Dict) -> Load | None:
    if field.key_field is not None or field.value_field is not None:
        return None

    def convert(value: Any) -> dict[Any, Any]:
        if type(value) is not dict:
            raise Unsure
        return dict(value)
    return convert


def _list(field: fields.List) -> Load | None:
    load_item = _field(field.inner)
    if load_item is None:
        return None

    def convert(value: Any) -> list[Any]:
        if type(value) is not list:
            raise Unsure
        return [load_item(item) for item in value]
    return convert


def _nested(field: fields.Nested) -> Load | None:
    if field.unknown is not None:
        return None
    load_one = fast_path(field.schema)
    if load_one is None:
        return None
    if not field.many:
        return load_one

    def convert(value: Any) -> list[Any]:
        if type(value) is not list:
            raise Unsure
        return [load_one(item) for item in value]
    return convert


# By exact type: a subclass may deserialize differently, so it goes to marshmallow.
_CONVERTERS: dict[type, Callable[[Any], Load | None]] = {
    fields.Raw: _raw, fields.String: _string, SafeString: _safe_string,
    SafeEmail: _safe_string,  # its Email check is among its validators
    UuidString: _uuid_string, StrictDate: _strict_date, UtcDateTime: _utc_datetime,
    fields.Integer: _integer,
    fields.Float: _float, fields.Boolean: _boolean, StrictBoolean: _boolean,
    fields.Dict: _dict, fields.List: _list, fields.Nested: _nested,
}
