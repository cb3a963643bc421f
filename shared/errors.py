"""One JSON error shape for every service: {"error": {"code", "message", "fields"?}}."""
from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from marshmallow import INCLUDE, Schema
from marshmallow import fields as ma_fields
from werkzeug.exceptions import HTTPException

from shared.db import RETRY_AFTER_SECONDS, database_unavailable


class ApiError(Exception):
    """Raise from a view or use case to answer a clear 4xx; `extra` joins the error body."""

    def __init__(self, status: int, code: str, message: str,
                 fields: dict[str, Any] | None = None, *,
                 headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields, self.extra, self.headers = fields, extra, headers or {}


class NotFound(ApiError):
    """Also what a caller gets for an object they may not see: existence never leaks."""

    def __init__(self, message: str = "Not found."):
        super().__init__(404, "not_found", message)


def error_body(code: str, message: str, fields: dict | None = None, **extra) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    error.update(extra)
    return {"error": error}


class ErrorDetailSchema(Schema):
    """The documented `error` object; some errors add keys (attempts_left, rows...)."""

    class Meta:
        unknown = INCLUDE  # documented as additionalProperties: true

    code = ma_fields.String(required=True)
    message = ma_fields.String(required=True)
    fields_ = ma_fields.Dict(data_key="fields", keys=ma_fields.String())


class ErrorSchema(Schema):
    """What every error response holds (the OpenAPI documents' `Error`)."""
    error = ma_fields.Nested(ErrorDetailSchema, required=True)


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden",
               404: "not_found", 405: "method_not_allowed", 409: "conflict",
               413: "payload_too_large", 415: "unsupported_media_type",
               422: "validation_failed", 423: "locked", 429: "too_many_requests"}


def _from_http_exception(exc: HTTPException):
    status = exc.code or 500
    fields = None
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    if messages:  # webargs/flask-smorest: {"json": {"field": ["msg"]}}
        fields = {}
        for location in messages.values():
            if isinstance(location, dict):
                fields.update(location)
    code = _HTTP_CODES.get(status, "error" if status < 500 else "internal_error")
    message = exc.description if status < 500 else "Internal error."
    if status == 422 and fields:
        message = "Some fields are invalid."
    return jsonify(error_body(code, message, fields)), status


def install_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return (jsonify(error_body(exc.code, exc.message, exc.fields, **exc.extra)),
                exc.status, exc.headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return _from_http_exception(exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if database_unavailable(exc):  # no primary (a failover), a restart: not a bug
            app.logger.warning("database unavailable type=%s", type(exc).__name__)
            return (jsonify(error_body("unavailable", "Try again in a moment.")), 503,
                    {"Retry-After": str(RETRY_AFTER_SECONDS)})
        app.logger.exception("unhandled error type=%s", type(exc).__name__)
        return jsonify(error_body("internal_error", "Internal error.")), 500
