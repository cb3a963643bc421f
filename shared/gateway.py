"""The embedded gateway: one port, each path dispatched to its owning service's app."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from shared.errors import error_body
from shared.i18n import SHARED_LOCALES, negotiate, translate_text
from shared.routes import route
from shared.webapp import is_app_path

WsgiApp = WSGIApplication
access_log = logging.getLogger("pp.gateway.access")


def _json_response(start_response: StartResponse, status: str,
                   body: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(payload))),
                            ("Cache-Control", "no-store")])
    return [payload]


def _refusal(environ: WSGIEnvironment, start_response: StartResponse, status: str,
             code: str, message: str) -> list[bytes]:
    """The gateway's own error answer, in the language the request asks for (issue 29)."""
    language = negotiate(environ.get("HTTP_ACCEPT_LANGUAGE"))
    body = error_body(code, translate_text(message, language, (SHARED_LOCALES,)))
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(payload))),
                            ("Content-Language", language), ("Cache-Control", "no-store")])
    return [payload]


class Gateway:
    def __init__(self, apps: Mapping[str, WsgiApp],
                 readiness: Mapping[str, Callable[[], bool]], web: WsgiApp | None = None):
        """`web`: the web app (shared.webapp.WebApp), answering every path outside the API."""
        self.apps = dict(apps)
        self.readiness = dict(readiness)
        self.web = web
        self.accepting = True

    def readyz(self) -> tuple[bool, dict[str, Any]]:
        states: dict[str, str] = {}
        for service, is_ready in self.readiness.items():
            try:
                states[service] = "ready" if is_ready() else "not_ready"
            except Exception:
                states[service] = "not_ready"
        ok = self.accepting and all(s == "ready" for s in states.values())
        return ok, {"status": "ready" if ok else "not_ready", "services": states}

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if path in ("/readyz", "/healthz"):
            return self._probe(path, start_response)
        if not self.accepting:
            return _refusal(environ, start_response, "503 Service Unavailable",
                            "shutting_down", "The system is stopping.")
        service = route(path)
        if service is None and self.web is not None and is_app_path(path):
            return self.web(environ, start_response)
        if service is None or service not in self.apps:
            return _refusal(environ, start_response, "404 Not Found", "not_found",
                            "Not found.")
        return self.apps[service](environ, start_response)

    def _probe(self, path: str, start_response: StartResponse) -> list[bytes]:
        if path == "/healthz":
            return _json_response(start_response, "200 OK", {"status": "alive"})
        ok, body = self.readyz()
        return _json_response(start_response, "200 OK" if ok else "503 Service Unavailable",
                              body)


class AccessLog:
    """The embedded gateway's access log, as nginx's (deploy/nginx, `pp_json`): method,
    path, status, bytes, seconds and request id. The path only: a query carries invitation
    and reset tokens and searched names; nor the client's address."""

    def __init__(self, app: WsgiApp):
        self.app = app

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        answer: dict[str, Any] = {}

        def start(status: str, headers: list[tuple[str, str]],
                  exc_info: Any = None) -> Callable[[bytes], object]:
            answer["status"], answer["headers"] = status, headers
            return start_response(status, headers, exc_info)
        return self._logged(environ, self.app(environ, start), answer, started)

    @staticmethod
    def _logged(environ: WSGIEnvironment, body: Iterable[bytes], answer: dict[str, Any],
                started: float) -> Iterator[bytes]:
        sent = 0
        try:
            for chunk in body:
                sent += len(chunk)
                yield chunk
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            request_id = next((v for k, v in answer.get("headers", ())
                               if k.lower() == "x-request-id"), "-")
            # Percent-encoded again: a decoded path may hold spaces or line breaks.
            access_log.info(
                "request method=%s path=%s status=%s bytes=%d seconds=%.3f request_id=%s",
                quote(environ.get("REQUEST_METHOD", ""), safe=""),
                quote(environ.get("PATH_INFO", "") or "/", safe="/:@!$&'()*+,;=~"),
                answer.get("status", "-").split(" ", 1)[0], sent,
                time.perf_counter() - started, request_id or "-")


def create_readiness_app() -> Gateway:
    """The gateway's /readyz behind nginx (`gunicorn 'shared.gateway:create_readiness_app()'`):
    asks each service's /readyz at PP_<SERVICE>_URL, 200 only when all answer 200."""
    import os
    import urllib.request

    from shared.config import SERVICES

    def asks(url: str) -> Callable[[], bool]:
        def ready() -> bool:
            with urllib.request.urlopen(f"{url.rstrip('/')}/readyz", timeout=2) as answer:
                return bool(answer.status == 200)  # a 503 raises: not ready
        return ready
    return Gateway({}, {service: asks(os.environ[f"PP_{service.upper()}_URL"])
                        for service in SERVICES})
