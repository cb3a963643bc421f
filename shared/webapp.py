"""The web app for parents and students (web/): static files, served by the embedded gateway
at every path that is not the API's, with the same headers nginx adds (shared/nginx.py).

A path naming a file under web/ gets that file; a missing one under /assets/ is a 404; any
other path gets index.html, since the app routes in the browser (/activate?token=…,
/reports/<id>, /privacy…, the paths the emails link to). Nothing outside web/ is served.
"""
from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"

# No inline script or style anywhere in the app: the chart is SVG drawn with attributes.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'")

# The invitation and reset links carry a token in their query: no Referer may carry it on.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    # No build step means no hashed file names: the browser revalidates every time.
    ("Cache-Control", "no-cache"),
)

# Paths the API side of the gateway owns: never answered with the app.
API_PREFIXES = ("/api", "/.well-known", "/openapi", "/asyncapi", "/healthz", "/readyz",
                "/metrics")

ASSETS = "/assets/"  # the app's files; any other path may be one of its screens

TYPES = {".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".html": "text/html; charset=utf-8",
         ".svg": "image/svg+xml", ".json": "application/json", ".ico": "image/x-icon",
         ".png": "image/png", ".webmanifest": "application/manifest+json"}


def is_app_path(path: str) -> bool:
    return not any(path == p or path.startswith(p + "/") for p in API_PREFIXES)


def resolve_file(root: Path, path: str) -> Path | None:
    """The file under `root` that `path` names, or None (a directory, a dot file, a path
    that would leave root, or no such file)."""
    parts = _plain_parts(path)
    if parts is None:
        return None
    candidate = root.joinpath(*parts) if parts else root
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_file() or not resolved.is_relative_to(root.resolve()):
        return None
    return resolved


def _plain_parts(path: str) -> list[str] | None:
    """The path's segments, or None when it holds a backslash, a NUL, `..` or a dot file."""
    if "\\" in path or "\x00" in path or ".." in path.split("/"):
        return None
    parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
    return None if any(p.startswith(".") for p in parts) else parts


class WebApp:
    """WSGI: GET and HEAD only."""

    def __init__(self, root: Path = WEB_ROOT):
        self.root = root

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., object]) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        if method not in ("GET", "HEAD"):
            return self._answer(start_response, "405 Method Not Allowed", b"",
                                "text/plain; charset=utf-8", [("Allow", "GET, HEAD")], method)
        if ".." in path.split("/") or "\x00" in path or "\\" in path:
            return self._answer(start_response, "404 Not Found", b"Not found.\n",
                                "text/plain; charset=utf-8", [], method)
        found = resolve_file(self.root, path)
        if found is None:
            if path.startswith(ASSETS):
                # A missing asset is a 404, not the page: a typo shows in the console.
                return self._answer(start_response, "404 Not Found", b"Not found.\n",
                                    "text/plain; charset=utf-8", [], method)
            found = self.root / "index.html"
        body = found.read_bytes()
        kind = TYPES.get(found.suffix) or mimetypes.guess_type(found.name)[0] \
            or "application/octet-stream"
        return self._answer(start_response, "200 OK", body, kind, [], method)

    @staticmethod
    def _answer(start_response: Callable[..., object], status: str, body: bytes, kind: str,
                extra: Iterable[tuple[str, str]], method: str) -> list[bytes]:
        start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body))),
                                *SECURITY_HEADERS, *extra])
        return [b""] if method == "HEAD" else [body]
