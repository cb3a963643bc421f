"""Field types shared by event contracts and API schemas."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields

# Bidirectional overrides and isolates can make a name display as something else.
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}


def unsafe_character(text: str, *, allow_newlines: bool = True) -> str | None:
    """Return the first character that must not appear in stored text, else None."""
    for ch in text:
        if ch in _BIDI_CONTROLS:
            return ch
        category = unicodedata.category(ch)
        if category == "Cs":  # a lone surrogate cannot be stored as UTF-8
            return ch
        if category == "Cc":
            if allow_newlines and ch in _ALLOWED_CONTROLS:
                continue
            return ch
    return None


class SafeString(fields.String):
    """A string with no control characters (NUL and friends) and no bidi overrides."""

    def __init__(self, *args: Any, max_length: int = 200, single_line: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_length = max_length
        self.single_line = single_line

    def _deserialize(self, value: Any, attr: str | None,
                     data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        bad = unsafe_character(text, allow_newlines=not self.single_line)
        if bad is not None:
            raise ValidationError(f"Contains a forbidden character (U+{ord(bad):04X}).")
        if len(text) > self.max_length:
            raise ValidationError(f"Longer than {self.max_length} characters.")
        return text


class StrictBoolean(fields.Boolean):
    """JSON true or false only, as documented: not 1, "yes" or "on"."""

    def _deserialize(self, value: Any, attr: str | None,
                     data: Mapping[str, Any] | None, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class UuidString(fields.String):
    """A UUID carried as its canonical lower-case string."""

    def _deserialize(self, value: Any, attr: str | None,
                     data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if type(value) is str and CANONICAL_UUID.fullmatch(value):
            return value  # already canonical (every event's ids): no parse needed
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return str(uuid.UUID(text))
        except ValueError as exc:
            raise ValidationError("Not a valid UUID.") from exc


DATE_EXPECTED = "expected year-month-day as YYYY-MM-DD, for example 2015-03-02"
TIMESTAMP_EXPECTED = "expected an ISO 8601 timestamp with its timezone, for example " \
    "2026-03-02T09:00:00Z"


class StrictDate(fields.Date):
    """A real calendar date written YYYY-MM-DD (no year 0000, no 2023-02-29); a refusal
    says what was expected (issue 24)."""

    # marshmallow's Date derives from DateTime, whose stub promises a datetime.
    def _deserialize(  # type: ignore[override]
            self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
            **kwargs: Any) -> dt.date:
        if not isinstance(value, str) or len(value) != 10:
            raise ValidationError(f"Not a date: {DATE_EXPECTED}.")
        try:
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            # The value is not echoed: it may be a date of birth, and reasons are kept.
            raise ValidationError(f"Not a real date (no such day, or not written as "
                                  f"YYYY-MM-DD): {DATE_EXPECTED}.") from exc


class UtcDateTime(fields.DateTime):
    """An ISO 8601 timestamp that must carry a timezone; returned in UTC."""

    default_error_messages = {  # noqa: RUF012 - marshmallow merges the class attribute
        "invalid": f"Not a timestamp: {TIMESTAMP_EXPECTED}.",
        "invalid_awareness": f"Not a timestamp: {TIMESTAMP_EXPECTED}.",
        "format": f"Not a timestamp: {TIMESTAMP_EXPECTED}."}

    def _deserialize(self, value: Any, attr: str | None,
                     data: Mapping[str, Any] | None, **kwargs: Any) -> dt.datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment.tzinfo is None:
            raise ValidationError(f"Timestamp must include a timezone: {TIMESTAMP_EXPECTED}.")
        return moment.astimezone(dt.timezone.utc)


class SafeEmail(SafeString):
    """An email address on one line (no CR/LF header injection), checked as an address."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from marshmallow import validate
        kwargs.setdefault("max_length", 320)
        super().__init__(*args, **kwargs)
        self.validators.insert(0, validate.Email())
