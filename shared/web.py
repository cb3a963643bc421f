"""The Flask side every service shares: guards on input, errors, health, OpenAPI."""
from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable
from itertools import compress
from typing import TYPE_CHECKING, Any, TypeVar, Union

from flask import Flask, Request, Response, current_app, jsonify, request
from apispec import BasePlugin
from flask_smorest import Api, Blueprint
from flask_smorest.arguments import ArgumentsMixin
from marshmallow import Schema
from werkzeug.exceptions import HTTPException

from shared import metrics
from shared.asyncapi import asyncapi_blueprint
from shared.auth import BEARER_SCHEME, BEARER_SCHEME_SPEC, error_answers
from shared.contracts.fields import unsafe_character
from shared.db import RETRY_AFTER_SECONDS, database_unavailable
from shared.i18n import (DEFAULT_LANGUAGE, SHARED_LOCALES, negotiate, service_locales,
                         translate_messages, translate_text)
from shared.errors import (FIELD_MESSAGES, FIELD_MESSAGES_SCHEMA, ApiError, DomainError,
                           ErrorSchema, answer_of, error_body)
from shared.messaging.envelope import correlation_id_var

if TYPE_CHECKING:
    from shared.auth import TokenVerifier
    from shared.revocations import RevocationView

# What an error handler gives Flask: a body and status, headers too when there are some.
Answer = Union[tuple[Response, int], tuple[Response, int, dict[str, str]]]

MAX_JSON_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32
REQUEST_ID_HEADER = "X-Request-Id"

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


_is_container = {dict, list}.__contains__  # the types json.loads nests


def json_depth(value: Any) -> int:
    """Deepest nesting of a parsed JSON value (json.loads' dicts and lists), a level at a
    time: each level's containers are picked out in C (map, compress), so a 5,000-event
    push costs milliseconds, not a Python step per value; no recursion limit to hit."""
    depth = 0
    level = [value] if _is_container(type(value)) else []
    while level:
        depth += 1
        inner: list[Any] = []
        for item in level:
            children = item.values() if type(item) is dict else item
            inner += compress(children, map(_is_container, map(type, children)))
        level = inner
    return depth


def first_unsafe_text(value: Any) -> tuple[str, str] | None:
    """(path, character) of the first string holding a forbidden control character."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        found = _unsafe_here(path, item)
        if found is not None:
            return found
        if isinstance(item, dict):
            stack.extend((f"{path}.{key}".lstrip("."), child) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((f"{path}.{i}".lstrip("."), child) for i, child in enumerate(item))
    return None


def _unsafe_here(path: str, item: Any) -> tuple[str, str] | None:
    """A forbidden character in this string, or in one of this object's keys."""
    if isinstance(item, str):
        bad = unsafe_character(item, allow_newlines=True)
        if bad is not None and bad not in "\t\n\r":
            return path or "body", bad
    elif isinstance(item, dict):
        for key in item:
            bad = unsafe_character(str(key), allow_newlines=False)
            if bad is not None:
                return f"{path}.{key}".lstrip(".") or "body", bad
    return None


View = TypeVar("View", bound=Callable[..., Any])


def bulk_body(max_bytes: int) -> Callable[[View], View]:
    """For an endpoint taking many items (a school's data push): its own body limit, and
    forbidden characters checked item by item by the view, so one bad item is reported by
    its index instead of refusing the whole body."""
    def decorate(view: View) -> View:
        view.pp_bulk_body_bytes = max_bytes  # type: ignore[attr-defined]  # read by _bulk_limit
        return view
    return decorate


def _guard_request_body() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS", "DELETE") and not request.content_length:
        return
    bulk_bytes = _bulk_limit()
    raw = _json_body_within_limit()
    if not raw:
        return
    parsed = _parsed_json(raw)
    request.environ[_PARSED_JSON] = parsed
    found = None if bulk_bytes else first_unsafe_text(parsed)
    if found:
        path, char = found
        raise ApiError(422, "invalid_characters",
                       f"Text contains a forbidden control character (U+{ord(char):04X}).",
                       fields={path: ["Contains a forbidden control character."]})


def _bulk_limit() -> int | None:
    """A bulk endpoint's own body limit, set on the request (bearer callers only)."""
    view = current_app.view_functions.get(request.endpoint or "")
    bulk_bytes: int | None = getattr(view, "pp_bulk_body_bytes", None)
    if bulk_bytes:
        if not request.headers.get("Authorization", "").lower().startswith("bearer "):
            # Not worth reading megabytes for a caller who is refused anyway.
            raise ApiError(401, "unauthorized", "A bearer token is required.")
        request.max_content_length = bulk_bytes
    return bulk_bytes


def _json_body_within_limit() -> bytes | None:
    """The raw JSON body (None when the body is not JSON), refused past the limit."""
    limit = request.max_content_length
    if request.content_length is not None and limit and request.content_length > limit:
        raise ApiError(413, "payload_too_large", f"The body is over {limit} bytes.")
    if not request.is_json:
        return None
    raw = request.get_data(cache=True)
    if request.content_length is None and limit and len(raw) >= limit:
        # A streamed (chunked) body: werkzeug stops reading at the limit without an error,
        # so more may have followed. Refused, never parsed cut short.
        raise ApiError(413, "payload_too_large", f"The body is over {limit} bytes.")
    return raw


def _parsed_json(raw: bytes) -> Any:
    try:
        parsed = json.loads(raw)
    except RecursionError:  # the C parser gives up near a thousand levels
        raise ApiError(400, "too_deep", f"JSON is nested deeper than {MAX_JSON_DEPTH}.") from None
    except ValueError:
        raise ApiError(400, "malformed_json", "The body is not valid JSON.") from None
    if json_depth(parsed) > MAX_JSON_DEPTH:
        raise ApiError(400, "too_deep", f"JSON is nested deeper than {MAX_JSON_DEPTH}.")
    return parsed


_PARSED_JSON = "pp.parsed_json"
_ARGUMENTS = ArgumentsMixin.ARGUMENTS_PARSER  # flask-smorest's webargs parser
_load_json = _ARGUMENTS.load_json


def _json_parsed_once(req: Request, schema: Schema) -> Any:
    """A view's JSON arguments from the body the guard above parsed and checked, instead of
    webargs parsing it again (a school's 5,000-event batch is megabytes)."""
    if _PARSED_JSON in req.environ:
        return req.environ[_PARSED_JSON]
    return _load_json(req, schema)


_ARGUMENTS.location_loader("json")(_json_parsed_once)  # registered, not decorated: typed


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden",
               404: "not_found", 405: "method_not_allowed", 409: "conflict",
               413: "payload_too_large", 415: "unsupported_media_type",
               422: "validation_failed", 423: "locked", 429: "too_many_requests"}


def _from_http_exception(exc: HTTPException) -> tuple[dict[str, Any], int]:
    status = exc.code or 500
    fields = _field_messages(exc)
    code = _HTTP_CODES.get(status, "error" if status < 500 else "internal_error")
    message = (exc.description or "") if status < 500 else "Internal error."
    if status == 422 and fields:
        message = "Some fields are invalid."
    return error_body(code, message, fields), status


def _field_messages(exc: HTTPException) -> dict[str, Any] | None:
    """webargs/flask-smorest's {"json": {"field": ["msg"]}} as {"field": ["msg"]}."""
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    if not messages:
        return None
    fields: dict[str, Any] = {}
    for location in messages.values():
        if isinstance(location, dict):
            fields.update(location)
    return fields


def install_error_handlers(app: Flask) -> None:
    """Every refusal (shared/errors.py), every HTTP error and anything unexpected, in the
    one error shape."""
    @app.errorhandler(DomainError)
    def _refused(exc: DomainError) -> Answer:
        body, status, headers = answer_of(exc)
        return _in_their_language(app, body, status, headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Answer:
        return _in_their_language(app, *_from_http_exception(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Answer:
        if database_unavailable(exc):  # no primary (a failover), a restart: not a bug
            app.logger.warning("database unavailable type=%s", type(exc).__name__)
            return _in_their_language(
                app, error_body("unavailable", "Try again in a moment."), 503,
                {"Retry-After": str(RETRY_AFTER_SECONDS)})
        app.logger.exception("unhandled error type=%s", type(exc).__name__)
        return _in_their_language(app, error_body("internal_error", "Internal error."), 500)


def _in_their_language(app: Flask, body: dict[str, Any], status: int,
                       headers: dict[str, str] | None = None) -> Answer:
    """An error's answer in the language the request asks for (Accept-Language: issue 29),
    its message and its fields' messages translated by the text raised, through the
    service's catalogue then shared's; Content-Language says which."""
    language = negotiate(request.headers.get("Accept-Language"))
    if language != DEFAULT_LANGUAGE:
        directories = app.extensions.get("pp_locales") or (SHARED_LOCALES,)
        error = dict(body["error"])
        error["message"] = translate_text(error["message"], language, directories)
        if "fields" in error:
            error["fields"] = translate_messages(error["fields"], language, directories)
        body = {**body, "error": error}
    return jsonify(body), status, {**(headers or {}), "Content-Language": language}


def _one_of(converter: Any, field: Any, **_: Any) -> dict[str, Any]:
    """apispec: a field documented as one of several schemas (its metadata's `one_of`: a
    function giving them, called when the document is built), e.g. a batch's events by
    their type. Documentation only: the field loads as it is declared."""
    variants = field.metadata.get("one_of")
    if variants is None:
        return {}
    return {"oneOf": [converter.resolve_nested_schema(schema) for schema in variants()]}


class _BodyAnswers(BasePlugin):
    """apispec: every operation taking a body answers 400 (not JSON, nested too deep) and
    413 (over the limit) from the guard above, before its view runs."""

    def operation_helper(self, path: str | None = None,
                         operations: dict[str, Any] | None = None, **_: Any) -> None:
        for operation in (operations or {}).values():
            if isinstance(operation, dict) and "requestBody" in operation:
                responses = operation.setdefault("responses", {})
                for status, answer in error_answers(400, 413).items():
                    responses.setdefault(status, answer)


# Every operation honours Accept-Language and says its answer's language (issue 29, 28):
# documented once here, as a parameter and a header of every service's every operation.
ACCEPT_LANGUAGE = "AcceptLanguage"
CONTENT_LANGUAGE = "ContentLanguage"
ACCEPT_LANGUAGE_SPEC = {
    "in": "header", "name": "Accept-Language", "required": False,
    "description": "The language of the answer's texts: `cy` (Cymraeg) or `en` (English, "
                   "the default), as an Accept-Language list (the first of ours named, by "
                   "quality). Error messages, and their fields' messages, come back in it.",
    "schema": {"type": "string", "example": "cy"}}  # anything else: English
CONTENT_LANGUAGE_SPEC = {
    "description": "The language the answer is in: `cy` or `en` (Accept-Language's choice).",
    "schema": {"type": "string", "enum": ["cy", "en"]}}


class _LanguageHeaders(BasePlugin):
    """apispec: every operation takes Accept-Language and every answer (a success or an
    error) carries Content-Language, as _finish_request and the error handlers send them."""

    def operation_helper(self, path: str | None = None,
                         operations: dict[str, Any] | None = None, **_: Any) -> None:
        for operation in (operations or {}).values():
            if not isinstance(operation, dict):
                continue
            parameters = operation.setdefault("parameters", [])
            if ACCEPT_LANGUAGE not in parameters:  # a name: apispec makes it a $ref
                parameters.append(ACCEPT_LANGUAGE)
            for answer in operation.get("responses", {}).values():
                if isinstance(answer, dict) and "$ref" not in answer:
                    answer.setdefault("headers", {})["Content-Language"] = CONTENT_LANGUAGE


def _document_languages(api: Api) -> None:
    """The components _LanguageHeaders names, and Content-Language on the shared error
    answers (components of their own), once the blueprints are registered."""
    api.spec.components.parameter(ACCEPT_LANGUAGE, "header", ACCEPT_LANGUAGE_SPEC)
    api.spec.components.header(CONTENT_LANGUAGE, CONTENT_LANGUAGE_SPEC)
    for answer in api.spec.components.responses.values():
        answer.setdefault("headers", {})["Content-Language"] = {
            "$ref": f"#/components/headers/{CONTENT_LANGUAGE}"}


class _Api(Api):  # type: ignore[misc]  # flask-smorest ships no type information
    ERROR_SCHEMA = ErrorSchema  # our error shape, not flask-smorest's, in the documents

    def _register_pagination_header(self) -> None:
        """Not registered: flask-smorest's page-number `PaginationMetadata` header (and its
        schema) is not how we page; lists page by `after` and answer `next` (shared/pages)."""


def create_flask_app(service: str, *, ready: Callable[[], dict[str, str]],
                     verifier: TokenVerifier, revocations: RevocationView | None = None,
                     blueprints: Iterable[Blueprint] = (),
                     extra_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(f"pp.{service}")
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_JSON_BYTES,
        API_TITLE=f"Pupil Progress {service}", API_VERSION="v1",
        OPENAPI_VERSION="3.0.3", OPENAPI_URL_PREFIX=f"/openapi/{service}",
        OPENAPI_JSON_PATH="openapi.json", JSON_SORT_KEYS=False,
        **(extra_config or {}))
    app.extensions["pp_verifier"] = verifier
    app.extensions["pp_locales"] = service_locales(service)  # its errors' Welsh (issue 29)
    app.extensions["pp_revocations"] = revocations  # None: no revocations (test apps)
    # _BodyAnswers first: the answers it adds get their Content-Language too.
    api = _Api(app, spec_kwargs={"extra_plugins": [_BodyAnswers(), _LanguageHeaders()]})
    api.spec.components.security_scheme(BEARER_SCHEME, BEARER_SCHEME_SPEC)
    api.spec.components.schema(FIELD_MESSAGES, FIELD_MESSAGES_SCHEMA)
    api.ma_plugin.converter.add_attribute_function(_one_of)
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    _document_languages(api)
    app.register_blueprint(asyncapi_blueprint())  # plain Flask: not an OpenAPI resource
    install_error_handlers(app)  # after Api(): ours replace flask-smorest's error shape

    @app.before_request
    def _start_request() -> None:
        request.environ["pp.started"] = time.perf_counter()
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else str(uuid.uuid4())
        request.environ["pp.request_id"] = request_id
        request.environ["pp.correlation_token"] = correlation_id_var.set(request_id)
        _guard_request_body()

    @app.after_request
    def _finish_request(response: Response) -> Response:
        started = request.environ.get("pp.started")
        if started is not None:  # by route pattern, never by the ids in a path
            route = request.url_rule.rule if request.url_rule else "unmatched"
            method = metrics.method_label(request.method)
            metrics.REQUEST_SECONDS.labels(service, method, route,
                                           str(response.status_code)).observe(
                time.perf_counter() - started)
        response.headers[REQUEST_ID_HEADER] = request.environ.get("pp.request_id", "")
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # Every answer says its language (errors set it as they translate: issue 29).
        response.headers.setdefault("Content-Language",
                                    negotiate(request.headers.get("Accept-Language")))
        return response

    @app.teardown_request
    def _end_request(_exc: BaseException | None) -> None:
        token = request.environ.pop("pp.correlation_token", None)
        if token is not None:
            correlation_id_var.reset(token)

    _install_probes(app, service, ready)
    app.extensions["pp_api"] = api
    return app


def _install_probes(app: Flask, service: str, ready: Callable[[], dict[str, str]]) -> None:
    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "alive", "service": service})

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        checks = ready()
        ok = all(v == "ok" for v in checks.values())
        return jsonify({"status": "ready" if ok else "not_ready", "service": service,
                        "checks": checks}), 200 if ok else 503
