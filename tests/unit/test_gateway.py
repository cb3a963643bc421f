import pytest
from werkzeug.test import Client

from shared.config import SERVICES
from shared.gateway import Gateway
from shared.routes import ROUTES, route


@pytest.mark.parametrize("path,service", [
    ("/api/v1/auth/token", "identity"), ("/.well-known/jwks.json", "identity"),
    ("/api/v1/me", "identity"), ("/api/v1/schools/x/clients", "identity"),
    ("/api/v1/school-data/batches", "ingest"), ("/api/v1/links/1/verify", "linking"),
    ("/api/v1/students/1/reports", "reports"), ("/api/v1/reports/publish", "reports"),
    ("/api/v1/subject-requests/1/export", "dsar"), ("/openapi/dsar/openapi.json", "dsar"),
])
def test_route_table_matches_api_paths(path, service):
    assert route(path) == service


def test_prefixes_match_whole_segments_only():
    assert route("/api/v1/linksx") is None and route("/api/v1") is None


def test_every_service_owns_a_route():
    assert {service for _, service in ROUTES} == set(SERVICES)


def _app(name):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [name.encode()]
    return app


def test_gateway_dispatches_and_aggregates_readiness():
    ready = {"identity": True, "linking": True}
    gateway = Gateway({n: _app(n) for n in ready}, {n: (lambda n=n: ready[n]) for n in ready})
    client = Client(gateway)
    assert client.get("/api/v1/links").get_data() == b"linking"
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["services"] == {"identity": "ready", "linking": "ready"}
    ready["linking"] = False
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["services"]["linking"] == "not_ready"
    assert client.get("/nowhere").status_code == 404
    gateway.accepting = False
    assert client.get("/api/v1/links").status_code == 503


def test_every_path_a_service_serves_is_routed_to_it(tmp_path):
    """A new endpoint cannot be forgotten in the route table (gateway and nginx)."""
    import re

    from shared.config import Settings
    from shared.embedded import load_specs
    from shared.service import ServiceRuntime
    settings = Settings.from_env({"PP_DATA_DIR": str(tmp_path)})
    for spec in load_specs():
        runtime = ServiceRuntime(spec, settings)
        runtime.start()
        app = runtime.create_app()
        for rule in app.url_map.iter_rules():
            path = re.sub(r"<[^>]+>", "x", rule.rule)
            if path in ("/healthz", "/readyz", "/metrics") or path.startswith("/static"):
                continue  # per-service probes and scrapes, not routed by path
            if path.startswith("/asyncapi/"):
                assert route(path) == "identity"  # the same document in every service
                continue
            assert route(path) == spec.name, f"{path} of {spec.name} is not routed to it"
        runtime.engine.dispose()


def _get_from_server(server, target: str) -> int:
    import http.client
    import socket
    import threading
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        conn.request("GET", target)
        status = conn.getresponse().status
        conn.close()
        # A request line the server refuses before any app (it would quote it).
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as raw:
            raw.sendall(b"GET /a b?token=raw-line-secret HTTP/1.1 x\r\n\r\n")
            assert b"400" in raw.recv(4096)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    return status


def test_the_embedded_gateway_logs_paths_never_queries_nor_addresses(caplog):
    """Like nginx's access log: invitation and reset tokens and searched names travel in
    queries, and none of them, nor the client's address, is written."""
    import logging

    from shared.embedded import serve
    gateway = Gateway({"identity": _app("identity")}, {})
    server = serve(gateway, "127.0.0.1", 0)
    with caplog.at_level(logging.DEBUG):
        status = _get_from_server(
            server, "/api/v1/auth/activate?token=invitation-secret&q=Smithson")
    assert status == 200
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "method=GET path=/api/v1/auth/activate status=200" in text
    assert "bytes=8" in text  # b"identity"
    for leak in ("invitation-secret", "Smithson", "raw-line-secret", "token=", "127.0.0.1"):
        assert leak not in text, leak
