import pytest
from flask_smorest import Blueprint
from marshmallow import Schema

from shared.contracts.fields import SafeString
from shared.errors import ApiError
from shared.web import MAX_JSON_BYTES, create_flask_app, json_depth


class NameIn(Schema):
    name = SafeString(required=True)


@pytest.fixture
def client():
    blp = Blueprint("t", __name__)
    stored = []

    @blp.route("/api/v1/things", methods=["POST"])
    @blp.arguments(NameIn)
    def make_thing(body):
        stored.append(body)
        return {"ok": True}

    @blp.route("/api/v1/locked", methods=["GET"])
    def locked():
        raise ApiError(422, "wrong_answer", "Wrong.", attempts_left=2)

    app = create_flask_app("test", ready=lambda: {"database": "ok"}, verifier=None,
                           blueprints=[blp])
    c = app.test_client()
    c.stored = stored
    return c


def assert_error(response, status, code):
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_valid_body_is_accepted(client):
    assert client.post("/api/v1/things", json={"name": "Ann"}).status_code == 200
    assert client.stored == [{"name": "Ann"}]


def test_a_json_body_is_parsed_once(client, monkeypatch):
    """The guard's parse (and checks) serve the view's arguments: webargs does not parse a
    school's megabytes again."""
    import webargs.core
    parsed_again = []
    real = webargs.core.parse_json
    monkeypatch.setattr(webargs.core, "parse_json",
                        lambda *args, **kw: parsed_again.append(1) or real(*args, **kw))
    assert client.post("/api/v1/things", json={"name": "Ann"}).status_code == 200
    assert client.stored == [{"name": "Ann"}] and parsed_again == []


def test_schema_violation_is_422_with_fields(client):
    err = assert_error(client.post("/api/v1/things", json={}), 422, "validation_failed")
    assert "name" in err["fields"]
    assert client.stored == []


@pytest.mark.parametrize("body,status,code", [
    ('{"name": ', 400, "malformed_json"),
    ('{"name": "A"}' + "x", 400, "malformed_json"),
    ("[" * 10_000 + "]" * 10_000, 400, "too_deep"),
    ('{"name": "A\\u0000"}', 422, "invalid_characters"),
    ('{"name": "A\\u202eB"}', 422, "invalid_characters"),
])
def test_bad_json_is_a_clean_4xx_and_changes_nothing(client, body, status, code):
    response = client.post("/api/v1/things", data=body, content_type="application/json")
    assert_error(response, status, code)
    assert client.stored == []


def test_body_over_one_mebibyte_is_413_before_parsing(client):
    body = b'{"name": "' + b"a" * MAX_JSON_BYTES + b'"}'
    assert_error(client.post("/api/v1/things", data=body, content_type="application/json"),
                 413, "payload_too_large")
    assert client.stored == []


def test_unknown_path_and_method_use_the_error_shape(client):
    assert_error(client.get("/api/v1/nothing"), 404, "not_found")
    assert_error(client.delete("/api/v1/things"), 405, "method_not_allowed")


def test_api_error_carries_extra_fields(client):
    err = assert_error(client.get("/api/v1/locked"), 422, "wrong_answer")
    assert err["attempts_left"] == 2


def test_health_request_id_and_openapi(client):
    response = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.status_code == 200 and response.headers["X-Request-Id"] == "abc-123"
    assert client.get("/readyz").get_json()["status"] == "ready"
    spec = client.get("/openapi/test/openapi.json").get_json()
    assert "/api/v1/things" in spec["paths"]


def test_json_depth_counts_containers_not_brackets_in_strings():
    assert json_depth({"a": "[[[[[[[["}) == 1
    assert json_depth([[[]]]) == 3 and json_depth("x") == 0


def test_unclosed_string_full_of_escaped_quotes_is_rejected_quickly(client):
    import time
    body = b'{"name": "' + b'\\"' * 400_000
    started = time.perf_counter()
    assert_error(client.post("/api/v1/things", data=body, content_type="application/json"),
                 400, "malformed_json")
    assert time.perf_counter() - started < 5  # linear work, not quadratic


def test_lone_surrogate_is_refused(client):
    response = client.post("/api/v1/things", data='{"name": "A\\ud800"}',
                           content_type="application/json")
    assert_error(response, 422, "invalid_characters")


def test_random_methods_count_as_other_so_the_series_stay_few(client):
    """A client may send any token as a method; each new label value would be a new
    series kept for the life of the process."""
    from prometheus_client import REGISTRY

    def methods() -> set[str]:
        return {sample.labels["method"] for metric in REGISTRY.collect()
                if metric.name == "pp_http_request_duration_seconds"
                for sample in metric.samples if sample.labels.get("service") == "test"}
    for i in range(50):
        response = client.open("/api/v1/things", method=f"X{i}FLOOD")
        assert response.status_code in (400, 405)
    client.open("/api/v1/nowhere", method="get")  # methods are case-sensitive
    assert client.post("/api/v1/things", json={"name": "Ann"}).status_code == 200
    assert methods() <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
                         "other"}
    assert {"other", "POST"} <= methods()


def test_metrics_are_not_served_on_the_app_port(client):
    """The web process serves /metrics on PP_METRICS_PORT (deploy/gunicorn.conf.py), never
    beside the API, where anyone who reaches the app could read them."""
    assert_error(client.get("/metrics"), 404, "not_found")
