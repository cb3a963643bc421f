"""Issue 24, "installable on a phone": the manifest's fields, the icons it names (drawn by
shared/app_icons.py, the committed files exactly what it draws), the service worker's list
of the app's files (every file of web/), and both gateways serving them with their types.
The browser side (Chromium finds it installable, reading offline, nothing left after
signing out) is tests/browser/test_installable_offline.py."""
import json
import re
import struct

import pytest
from werkzeug.test import Client

from shared import app_icons, nginx
from shared.gateway import Gateway
from shared.webapp import WEB_ROOT, WebApp

MANIFEST = WEB_ROOT / "manifest.webmanifest"


@pytest.fixture
def client():
    return Client(Gateway({}, {}, web=WebApp()))


def _manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def test_the_manifest_has_what_a_phone_needs_to_install_the_app():
    manifest = _manifest()
    assert manifest["name"] == "Pupil Progress" and 0 < len(manifest["short_name"]) <= 15
    assert manifest["start_url"] == "/" and manifest["scope"] == "/" and manifest["id"] == "/"
    assert manifest["display"] == "standalone"
    styles = (WEB_ROOT / "assets" / "styles.css").read_text()
    primary = re.search(r"--primary:\s*(#[0-9a-f]{6})", styles).group(1)
    assert manifest["theme_color"] == primary  # the header's blue
    page = (WEB_ROOT / "index.html").read_text()
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page
    assert f'<meta name="theme-color" content="{primary}">' in page
    by_size = {(icon["sizes"], icon["purpose"]): icon["src"] for icon in manifest["icons"]}
    for size in (192, 512):
        for purpose in ("any", "maskable"):
            assert by_size[(f"{size}x{size}", purpose)] == f"/assets/icons/icon-{size}.png"


@pytest.mark.parametrize("size", app_icons.SIZES)
def test_the_icons_are_the_pngs_the_project_draws(size):
    committed = app_icons.path_of(size).read_bytes()
    assert committed == app_icons.draw(size), "run python -m shared.app_icons"
    assert committed[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", committed[16:24]) == (size, size)


def _static_imports(module: str, seen: set[str]) -> set[str]:
    """`module` ("/assets/app.js") and every module it imports statically, transitively."""
    if module in seen:
        return seen
    seen.add(module)
    text = (WEB_ROOT / module.lstrip("/")).read_text()
    for name in re.findall(r'^\s*(?:import|export)\b[^;]*?from\s+"\./([\w.-]+\.js)"', text, re.M):
        _static_imports(f"/assets/{name}", seen)
    return seen


def test_the_service_worker_keeps_the_apps_files_and_no_api_answer():
    worker = (WEB_ROOT / "sw.js").read_text()
    listed = json.loads("[" + re.search(r"const SHELL = \[(.*?)\];", worker, re.S).group(1)
                        .strip().rstrip(",") + "]")
    files = {"/" + str(p.relative_to(WEB_ROOT)) for p in WEB_ROOT.rglob("*")
             if p.is_file() and p.name not in ("README.md", "sw.js")}
    # A name that is no file would fail the worker's install (addAll refuses a 404).
    assert set(listed) <= files, set(listed) - files
    # What the page needs to start offline: add a new module the app imports to SHELL.
    boot = _static_imports("/assets/app.js", set()) | {
        "/index.html", "/manifest.webmanifest", "/assets/styles.css", "/assets/favicon.svg",
        "/assets/icons/icon-192.png", "/assets/icons/icon-512.png"}
    assert boot <= set(listed), f"add to SHELL in web/sw.js: {sorted(boot - set(listed))}"
    assert "/assets/offline.js" in boot and "/assets/children.js" in boot  # the parser works
    assert '"/api"' in worker and "respondWith" in worker
    assert "localStorage" not in worker and "indexedDB" not in worker


def test_the_gateways_serve_the_manifest_icons_and_worker_with_their_types(client):
    for path, kind in (("/manifest.webmanifest", "application/manifest+json"),
                       ("/assets/icons/icon-192.png", "image/png"),
                       ("/assets/icons/icon-512.png", "image/png"),
                       ("/sw.js", "text/javascript"), ("/assets/offline.js", "text/javascript")):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith(kind), path
        assert answer.headers["Cache-Control"] == "no-cache"  # a new worker is found at once
    conf = nginx.render()
    assert "application/manifest+json webmanifest;" in conf and "image/png png;" in conf
