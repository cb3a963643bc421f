"""A quick loader for event data in its plain form, beside the marshmallow schema.

Every event is checked twice on its way (by its producer and by each consumer), and
marshmallow spends 10–20 µs per field: for a term of 150,000 records that is most of the
pipeline's time. For a schema made only of simple fields, `plain_loader` builds a loader
that accepts the plain form producers write (canonical UUIDs, printable ASCII text, real
ints, bools, finite numbers, lists of those) and gives up on anything else by returning
None; the schema then decides, and says what is wrong. The schema stays the authority: a
property test holds the two to the same answers for every contract
(tests/unit/test_contract_fast_path.py).
"""
from __future__ import annotations

import math
from typing import Any, Callable

from marshmallow import EXCLUDE, Schema, ValidationError, fields, missing

from .fields import CANONICAL_UUID, SafeString, StrictBoolean, UuidString

_GIVE_UP = object()
FieldLoader = Callable[[Any], Any]


def _uuid(value):
    return value if type(value) is str and CANONICAL_UUID.fullmatch(value) else _GIVE_UP


def _plain_text(max_length: int) -> FieldLoader:
    def load(value):
        if (type(value) is str and len(value) <= max_length and value.isascii()
                and value.isprintable()):
            return value
        return _GIVE_UP
    return load


def _string(value):
    return value if type(value) is str else _GIVE_UP


def _integer(value):
    return value if type(value) is int else _GIVE_UP


def _number(value):
    if type(value) in (int, float) and math.isfinite(value):
        return float(value)
    return _GIVE_UP


def _boolean(value):
    return value if type(value) is bool else _GIVE_UP


def _field_loader(field: fields.Field) -> FieldLoader | None:
    """The plain loader of one field, with its validators; None if it has no plain form."""
    if field.data_key is not None or field.attribute is not None:
        return None
    kind = type(field)
    if kind is UuidString:
        load = _uuid
    elif isinstance(field, SafeString):  # SafeEmail too: its Email validator runs below
        load = _plain_text(field.max_length)
    elif kind is fields.String:
        load = _string
    elif kind is fields.Integer:
        load = _integer
    elif kind is fields.Float and not field.allow_nan:
        load = _number
    elif kind in (fields.Boolean, StrictBoolean):
        load = _boolean
    elif kind is fields.List and not field.validators:
        inner = _field_loader(field.inner)
        if inner is None:
            return None
        load = _list_of(inner)
    else:
        return None
    validators = list(field.validators)
    if not validators:
        return load

    def validated(value):
        loaded = load(value)
        if loaded is _GIVE_UP:
            return _GIVE_UP
        try:
            for validator in validators:
                validator(loaded)
        except ValidationError:
            return _GIVE_UP
        return loaded
    return validated


def _list_of(inner: FieldLoader) -> FieldLoader:
    def load(value):
        if type(value) is not list:
            return _GIVE_UP
        out = [inner(item) for item in value]
        return _GIVE_UP if any(item is _GIVE_UP for item in out) else out
    return load


def plain_loader(schema: Schema) -> Callable[[dict], dict | None] | None:
    """A quick loader for `schema`, or None when it has fields without a plain form,
    hooks, or a stricter policy for unknown fields than ignoring them."""
    if schema.unknown != EXCLUDE or any(schema._hooks.values()):
        return None
    plan = []
    for name, field in schema.load_fields.items():
        load = _field_loader(field)
        if load is None:
            return None
        plan.append((name, load, field.required, field.allow_none, field.load_default))

    def load_plain(data: dict) -> dict | None:
        if type(data) is not dict:
            return None
        out = {}
        for name, load, required, allow_none, default in plan:
            if name not in data:
                if required:
                    return None
                if default is not missing:
                    out[name] = default() if callable(default) else default
                continue
            value = data[name]
            if value is None:
                if not allow_none:
                    return None
                out[name] = None
                continue
            loaded = load(value)
            if loaded is _GIVE_UP:
                return None
            out[name] = loaded
        return out
    return load_plain
