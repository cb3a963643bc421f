"""The one envelope every integration event travels in (DESIGN.md "Events")."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from .fields import CANONICAL_UUID, SafeString, UtcDateTime, UuidString


TYPE = re.compile(r"^[A-Z][A-Za-z]{1,99}$")
PRODUCER = re.compile(r"^[a-z][a-z_]{1,39}$")


class EnvelopeSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # tolerant reader

    id = UuidString(required=True)
    type = fields.String(required=True, validate=validate.Regexp(TYPE))
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    occurred_at = UtcDateTime(required=True)
    producer = fields.String(required=True, validate=validate.Regexp(PRODUCER))
    school_id = UuidString(required=True, allow_none=True)
    correlation_id = SafeString(required=True, max_length=100)
    data = fields.Dict(keys=fields.String(), required=True)


# The envelope of every delivery is checked; marshmallow spends ~100 µs on its eight
# fields. Envelopes as our producers write them take this narrower path instead; anything
# else goes through EnvelopeSchema, which stays the authority (and says what is wrong).
# A property test holds the two to the same answers (tests/unit/test_envelope_fast_path.py).
_UTC_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?\+00:00")
_PLAIN_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")


def _plain_event(event_id: Any, event_type: Any, version: Any, producer: Any) -> bool:
    """Which event this is: a canonical UUID, a type and version, its producer."""
    return bool(type(event_id) is str and CANONICAL_UUID.fullmatch(event_id)
                and type(event_type) is str and TYPE.match(event_type)
                and type(version) is int and version >= 1
                and type(producer) is str and PRODUCER.match(producer))


def _plain_context(occurred_at: Any, school_id: Any, correlation_id: Any, data: Any) -> bool:
    """When and where: a UTC timestamp, the school (or none), the correlation id, a dict."""
    return bool(type(occurred_at) is str and _UTC_TIMESTAMP.fullmatch(occurred_at)
                and (school_id is None or (type(school_id) is str
                                           and CANONICAL_UUID.fullmatch(school_id)))
                and type(correlation_id) is str and _PLAIN_ID.fullmatch(correlation_id)
                and type(data) is dict)


def load_plain_envelope(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The loaded envelope when it is plainly valid in the form producers write it, else
    None (then EnvelopeSchema decides)."""
    try:
        event_id, event_type, version = raw["id"], raw["type"], raw["version"]
        occurred_at, producer, school_id = raw["occurred_at"], raw["producer"], raw["school_id"]
        correlation_id, data = raw["correlation_id"], raw["data"]
    except KeyError:
        return None
    if not (_plain_event(event_id, event_type, version, producer)
            and _plain_context(occurred_at, school_id, correlation_id, data)):
        return None
    try:
        moment = dt.datetime.fromisoformat(occurred_at)
    except ValueError:  # a well-formed but impossible date: the schema says why
        return None
    return {"id": event_id, "type": event_type, "version": version, "occurred_at": moment,
            "producer": producer, "school_id": school_id, "correlation_id": correlation_id,
            "data": data}
