"""The web app (issue 14) as the gateway serves it: the page for every app route, its files,
strict headers, the API's 404 unchanged, nothing outside web/; and the rules its code keeps
(no inline script or style, which the CSP would refuse; no token in localStorage)."""
import re
from html.parser import HTMLParser

import pytest
from werkzeug.test import Client

from shared import nginx
from shared.gateway import Gateway
from shared.webapp import SECURITY_HEADERS, WEB_ROOT, WebApp, is_app_path, resolve_file

REPORT = "0b0e4bb4-6a57-4a27-9a8a-7a1b44b7c0a1"


def _service(name):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [name.encode()]
    return app


@pytest.fixture
def client():
    gateway = Gateway({"linking": _service("linking"), "identity": _service("identity")},
                      {"linking": lambda: True}, web=WebApp())
    return Client(gateway)


@pytest.mark.parametrize("path", ["/", "/sign-in", "/activate?token=abc-DEF_123",
                                  "/reset-password?token=x", "/children", "/reports",
                                  f"/reports/{REPORT}", "/requests", "/privacy?version=2027-01",
                                  "/admin/links", "/no/such/screen"])
def test_every_app_route_gets_the_page_with_strict_headers(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script type="module" src="/assets/app.js">' in response.get_data()
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"  # the token is in the query


def test_the_apps_files_are_served_with_their_types(client):
    for path, kind in (("/assets/app.js", "text/javascript"), ("/assets/styles.css", "text/css"),
                       ("/assets/favicon.svg", "image/svg+xml")):
        response = client.get(path)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith(kind)
        assert response.headers["Content-Security-Policy"]
    assert client.get("/assets/missing.js").status_code == 404  # an asset typo is not the page
    head = client.head("/children")
    assert head.status_code == 200 and head.get_data() == b""
    assert client.post("/children").status_code == 405


def test_the_api_keeps_its_own_answers(client):
    assert client.get("/api/v1/links").get_data() == b"linking"
    for path in ("/api/v1/nothing", "/api", "/api/v2/links", "/openapi/nobody/openapi.json",
                 "/metrics", "/healthz/x"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.get_json() == {"error": {"code": "not_found", "message": "Not found."}}
    assert client.get("/healthz").get_json() == {"status": "alive"}


def test_without_a_web_app_the_gateway_answers_404_as_before():
    client = Client(Gateway({}, {}))
    assert client.get("/children").status_code == 404


@pytest.mark.parametrize("path", [
    "/assets/../../shared/config.py", "/../pyproject.toml", "/assets/..%2f..%2fpyproject.toml",
    "/assets/%2e%2e/%2e%2e/pyproject.toml", "/..", "/assets/..\\..\\pyproject.toml",
    "/.git/config", "/assets/.hidden", "//etc/passwd"])
def test_nothing_outside_web_is_served(client, path):
    response = client.get(path)
    body = response.get_data()
    assert b"[project]" not in body and b"SERVICES" not in body and b"root:" not in body
    assert response.status_code in (200, 404)
    if response.status_code == 200:  # an app route: the page itself, nothing else
        assert body == (WEB_ROOT / "index.html").read_bytes()


def test_resolve_file_stays_in_its_root(tmp_path):
    root = tmp_path / "web"
    root.mkdir()
    (root / "index.html").write_text("page")
    (tmp_path / "secret.txt").write_text("secret")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    assert resolve_file(root, "/index.html") == (root / "index.html").resolve()
    for path in ("/../secret.txt", "/link.txt", "/", "/nothing.html", "/a\x00b"):
        assert resolve_file(root, path) is None, path


def test_app_paths_are_everything_but_the_apis():
    assert is_app_path("/") and is_app_path("/reports/1") and is_app_path("/apiary")
    assert not is_app_path("/api") and not is_app_path("/api/v1/x")
    assert not is_app_path("/.well-known/jwks.json") and not is_app_path("/readyz")


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inline_scripts, self.styles, self.style_attributes, self.labels = 0, 0, 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and "src" not in attrs:
            self.inline_scripts += 1
        if tag == "style":
            self.styles += 1
        if "style" in attrs or any(a.startswith("on") for a in attrs):
            self.style_attributes += 1


def test_the_page_needs_no_inline_script_or_style():
    page = _Page()
    page.feed((WEB_ROOT / "index.html").read_text())
    assert (page.inline_scripts, page.styles, page.style_attributes) == (0, 0, 0)


def test_the_app_code_keeps_its_rules():
    code = {p.name: p.read_text() for p in (WEB_ROOT / "assets").glob("*.js")}
    assert code, "no JavaScript in web/assets"
    for name, text in code.items():
        if name == "i18n.js":  # the language chosen before signing in, and nothing else
            assert re.findall(r"localStorage\s*[.\[]\s*(\w+)\(([^)]*)", text) == [
                ("getItem", "STORAGE_KEY"), ("setItem", "STORAGE_KEY, chosen")]
            assert 'const STORAGE_KEY = "pp.language";' in text
        else:
            assert not re.search(r"localStorage\s*[.\[]", text), \
                f"{name}: tokens never in localStorage"
        assert not re.search(r"\.innerHTML\s*=|insertAdjacentHTML|document\.write", text), \
            f"{name}: build elements with textContent, never markup from data"
        assert "setAttribute(\"style\"" not in text and ".style." not in text, \
            f"{name}: no inline styles (CSP style-src 'self')"
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), \
            f"{name}: nothing from another origin"
    assert not re.search(r"https?://", (WEB_ROOT / "assets" / "styles.css").read_text())


def test_nginx_serves_the_app_with_the_same_headers():
    conf = nginx.render()
    for location, fallback in (("location / {", "/index.html"), ("location /assets/ {", "=404")):
        app = conf[conf.index(location):].split("\n    }")[0]
        assert f"try_files $uri {fallback};" in app
        for name, value in SECURITY_HEADERS:
            assert f'add_header {name} "{value}" always;' in app
        assert "add_header X-Request-ID $pp_request_id always;" in app
        assert "text/javascript js;" in app  # module scripts need it under nosniff
    for prefix in ("/api", "/openapi", "/metrics"):
        block = conf[conf.index(f"location {prefix}/ {{"):].split("\n    }")[0]
        assert "return 404 '{\"error\": {\"code\": \"not_found\"" in block, prefix
    assert "root /srv/www/web;" in nginx.upstreams(lambda n: "x:1", web_root="/srv/www/web")
    assert "root " not in nginx.upstreams(lambda n: "x:1")


def test_nginx_with_the_generated_configuration_serves_the_app(tmp_path, readable_copy):
    """The generated file in a real nginx (Debian's), on a free port: the page for an app
    route with the headers, the files with their types, the API's 404, no way out of web/.
    Its workers serve a copy of web/ they can read wherever the clone is (as root they run
    as nobody, and a clone in a private folder is closed to them)."""
    import os
    import shutil
    import subprocess
    import time
    import urllib.error
    import urllib.request

    from tests.support import free_port
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(binary):
        pytest.skip("nginx is not installed")
    port = free_port()
    web_root = readable_copy(WEB_ROOT)
    secret = web_root.parent / "pyproject.toml"  # what a way out of web/ would reach
    secret.write_text("[project]\n")
    secret.chmod(0o644)
    conf = nginx.render().replace(f"listen {nginx.PORT};", f"listen 127.0.0.1:{port};")
    conf = conf.replace("access_log /dev/stdout pp_json;", "access_log off;")
    (tmp_path / "pp.conf").write_text(conf)
    (tmp_path / "upstreams.conf").write_text(nginx.upstreams(lambda name: "127.0.0.1:9",
                                                             web_root=str(web_root)))
    temp = "".join(f"    {kind}_temp_path {tmp_path}/{kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\nhttp {{\n"
        f"{temp}    include {tmp_path}/upstreams.conf;\n    include {tmp_path}/pp.conf;\n}}\n")
    server = subprocess.Popen([binary, "-c", str(tmp_path / "nginx.conf"), "-g",
                               "daemon off;"], stderr=subprocess.PIPE)

    def get(path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
                return answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                status, headers, body = get("/activate?token=abc")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and server.poll() is None, \
                    server.stderr.read().decode()
                time.sleep(0.05)  # nginx binding its port
        assert status == 200 and body == (WEB_ROOT / "index.html").read_bytes()
        for name, value in SECURITY_HEADERS:
            assert headers[name] == value, name
        status, headers, _ = get("/assets/app.js")
        assert status == 200 and headers["Content-Type"].startswith("text/javascript")
        status, _, body = get("/api/v1/nothing")
        assert status == 404 and b'"not_found"' in body
        assert get("/assets/missing.js")[0] == 404
        assert get("/reports/anything")[0] == 200
        status, _, body = get("/assets/%2e%2e/%2e%2e/pyproject.toml")
        assert status in (400, 404) and b"[project]" not in body
    finally:
        server.terminate()
        server.wait(timeout=10)
