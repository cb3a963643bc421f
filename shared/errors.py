"""Errors a request can end with, and their one JSON shape:
{"error": {"code", "message", "fields"?, ...}}.

Use cases and rules raise a `DomainError`: its class says the HTTP status, the error code
and what the caller is told, so no view translates exceptions of its own. Flask answers
every one the same way (shared/web.py `install_error_handlers`). This module is free of
Flask: domain modules import their errors from it.
"""
from __future__ import annotations

from typing import Any

from marshmallow import Schema
from marshmallow import fields as ma_fields

REFUSED = "The request was refused."


class DomainError(Exception):
    """A rule refused the request. A subclass names the answer: `status`, `code`, and
    `answer`, what the caller reads whatever detail the raiser gave (None: the message
    raised with is the answer). `field` names the input at fault, answered in `fields`;
    keyword arguments join the error body (`attempts_left`, `rows`...)."""

    status: int = 422
    code: str = "refused"
    answer: str | None = REFUSED
    field: str | None = None

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        super().__init__(message or self.answer or REFUSED)
        self.message: str = self.answer or str(self)
        self.fields: dict[str, Any] | None = (
            {self.field: [self.message]} if self.field else None)
        self.headers: dict[str, str] = {}
        self.extra: dict[str, Any] = extra


class NotFound(DomainError):
    """Also what a caller gets for an object they may not see: existence never leaks."""
    status = 404
    code = "not_found"
    answer = "Not found."


class Conflict(DomainError):
    """The request does not fit the current state (409); the message says why."""
    status = 409
    code = "conflict"
    answer: str | None = None


class SchoolLeft(Conflict):
    """The school was offboarded (or is being): nothing more of it is taken (409)."""
    code = "school_offboarded"
    answer = "This school has left Pupil Progress; its data is no longer taken."


class Locked(DomainError):
    """The object is there but may not be used for now (423)."""
    status = 423
    code = "locked"
    answer: str | None = None


class Unauthenticated(DomainError):
    """Credentials or a grant that prove nothing (401)."""
    status = 401
    code = "unauthorized"
    answer: str | None = None


class StepUpRequired(Unauthenticated):
    """One of the gravest actions, with a second factor passed too long ago: give it
    again (POST /api/v1/auth/second-factor), then retry (shared.auth.STEP_UP_SECONDS)."""
    code = "step_up_required"
    answer = ("This action needs your authenticator code again: pass the second factor "
              "(POST /api/v1/auth/second-factor), then try again.")


class BadRequest(DomainError):
    status = 400
    code = "bad_request"
    answer: str | None = None


class Invalid(DomainError):
    """Input the rules refuse (422); the message says why."""
    code = "validation_failed"
    answer: str | None = None


class TooManyRequests(DomainError):
    """Refused for a while; `retry_after` seconds are in the body and Retry-After."""
    status = 429
    code = "too_many_requests"
    answer = "Too many requests: try again later."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message or f"retry after {retry_after}s", retry_after=retry_after)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


class ApiError(DomainError):
    """An answer a view gives itself (input that no rule judges, such as a missing query
    parameter): status, code and message given where it is raised."""

    answer: str | None = None

    def __init__(self, status: int, code: str, message: str,
                 fields: dict[str, Any] | None = None, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.status, self.code = status, code
        self.fields, self.headers = fields, headers or {}


def error_body(code: str, message: str, fields: dict[str, Any] | None = None,
               **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    error.update(extra)
    return {"error": error}


def answer_of(exc: DomainError) -> tuple[dict[str, Any], int, dict[str, str]]:
    """The one translation of a refusal into an HTTP answer: body, status, headers."""
    return (error_body(exc.code, exc.message, exc.fields, **exc.extra), exc.status,
            exc.headers)


# A field's messages: a list of them, or for a nested object the same map for its fields
# (webargs/marshmallow's shape). Registered as a component by shared/web.py.
FIELD_MESSAGES = "FieldMessages"
FIELD_MESSAGES_SCHEMA = {
    "type": "object", "description": "Field name -> its messages, or for a nested object "
    "(or a list's index) the same map for its own fields.",
    "additionalProperties": {"oneOf": [
        {"type": "array", "items": {"type": "string"}},
        {"$ref": f"#/components/schemas/{FIELD_MESSAGES}"}]}}


class ErrorRowSchema(Schema):
    """A row of an uploaded file that was refused or not used: where, and why."""
    file = ma_fields.String(allow_none=True, metadata={
        "description": "The file (e.g. `users.csv`); null when the fault is the bundle's."})
    line = ma_fields.Integer(allow_none=True, metadata={
        "description": "The line in the file (the header is line 1); null for the file."})
    error = ma_fields.String(required=True, metadata={
        "description": "Why: the column and the reason, no personal data."})


class ErrorDetailSchema(Schema):
    """The documented `error` object: its code and message, and the keys some errors add."""

    code = ma_fields.String(required=True, metadata={
        "description": "What went wrong, for a program (e.g. `validation_failed`)."})
    message = ma_fields.String(required=True, metadata={
        "description": "What went wrong, for a person."})
    fields_ = ma_fields.Dict(data_key="fields", keys=ma_fields.String(), metadata={
        "description": "Invalid input: each field's messages (422).",
        # a FieldMessages map itself: each field's messages, or a nested field's map
        "additionalProperties": FIELD_MESSAGES_SCHEMA["additionalProperties"]})
    rows = ma_fields.List(ma_fields.Nested(ErrorRowSchema), metadata={
        "description": "A refused OneRoster bundle's faults by file and line (422 "
        "`invalid_bundle`)."})
    attempts_left = ma_fields.Integer(metadata={
        "description": "Date-of-birth answers left before the link locks (422 "
        "`wrong_date_of_birth`)."})
    retry_after = ma_fields.Integer(metadata={
        "description": "Seconds to wait before trying again (429, as Retry-After)."})
    reason = ma_fields.String(metadata={
        "description": "Why a refresh was refused (401 `invalid_grant`): "
        "`sign_in_expired`, the sign-in reached its absolute lifetime "
        "(PP_SIGN_IN_MAX_DAYS): sign in again."})


class ErrorSchema(Schema):
    """What every error response holds (the OpenAPI documents' `Error`)."""
    error = ma_fields.Nested(ErrorDetailSchema, required=True, metadata={
        "description": "The refusal: its code, message and details."})
