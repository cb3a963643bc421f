"""The Flask side every service shares: guards on input, errors, health, OpenAPI."""
from __future__ import annotations

import json
import re
import uuid
from typing import Callable

from flask import Flask, jsonify, request
from flask_smorest import Api

from shared.contracts.fields import unsafe_character
from shared.errors import ApiError, install_error_handlers
from shared.messaging.envelope import correlation_id_var

MAX_JSON_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32
REQUEST_ID_HEADER = "X-Request-Id"

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def json_depth(raw: bytes) -> int:
    """Deepest nesting of a JSON text, without parsing it (strings removed first)."""
    brackets = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b'""', raw))
    depth = deepest = 0
    for byte in brackets:
        if byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def first_unsafe_text(value) -> tuple[str, str] | None:
    """(path, character) of the first string holding a forbidden control character."""
    stack = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            bad = unsafe_character(item, allow_newlines=True)
            if bad is not None and bad not in "\t\n\r":
                return path or "body", bad
        elif isinstance(item, dict):
            for key, child in item.items():
                bad = unsafe_character(str(key), allow_newlines=False)
                if bad is not None:
                    return f"{path}.{key}".lstrip(".") or "body", bad
                stack.append((f"{path}.{key}".lstrip("."), child))
        elif isinstance(item, list):
            stack.extend((f"{path}.{i}".lstrip("."), child) for i, child in enumerate(item))
    return None


def _guard_request_body() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS", "DELETE") and not request.content_length:
        return
    limit = request.max_content_length
    if request.content_length is not None and limit and request.content_length > limit:
        raise ApiError(413, "payload_too_large", f"The body is over {limit} bytes.")
    if not request.is_json:
        return
    raw = request.get_data(cache=True)  # werkzeug enforces the limit on chunked bodies
    if not raw:
        return
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise ApiError(400, "too_deep", f"JSON is nested deeper than {MAX_JSON_DEPTH}.")
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "malformed_json", "The body is not valid JSON.") from None
    found = first_unsafe_text(parsed)
    if found:
        path, char = found
        raise ApiError(422, "invalid_characters",
                       f"Text contains a forbidden control character (U+{ord(char):04X}).",
                       fields={path: ["Contains a forbidden control character."]})


def create_flask_app(service: str, *, ready: Callable[[], dict[str, str]],
                     verifier, blueprints=(), extra_config: dict | None = None) -> Flask:
    app = Flask(f"pp.{service}")
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_JSON_BYTES,
        API_TITLE=f"Pupil Progress {service}", API_VERSION="v1",
        OPENAPI_VERSION="3.0.3", OPENAPI_URL_PREFIX=f"/openapi/{service}",
        OPENAPI_JSON_PATH="openapi.json", JSON_SORT_KEYS=False,
        **(extra_config or {}))
    app.extensions["pp_verifier"] = verifier
    api = Api(app)
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    install_error_handlers(app)  # after Api(): ours replace flask-smorest's error shape

    @app.before_request
    def _start_request():
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else str(uuid.uuid4())
        request.environ["pp.request_id"] = request_id
        request.environ["pp.correlation_token"] = correlation_id_var.set(request_id)
        _guard_request_body()

    @app.after_request
    def _finish_request(response):
        response.headers[REQUEST_ID_HEADER] = request.environ.get("pp.request_id", "")
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @app.teardown_request
    def _end_request(_exc):
        token = request.environ.pop("pp.correlation_token", None)
        if token is not None:
            correlation_id_var.reset(token)

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "alive", "service": service})

    @app.get("/readyz")
    def readyz():
        checks = ready()
        ok = all(v == "ok" for v in checks.values())
        return jsonify({"status": "ready" if ok else "not_ready", "service": service,
                        "checks": checks}), 200 if ok else 503

    app.extensions["pp_api"] = api
    return app
