"""Issue 29: a person's language, recorded on their login (GET/PATCH /api/v1/me, announced
with LanguageChosen), and a school's default language (its settings, SchoolActivated)."""
import json

import sqlalchemy as sa

from tests.unit.test_identity_tokens import service, sign_in  # noqa: F401


def _call(client, method, path, token, body=None, **headers):
    return client.open(path, method=method, json=body,
                       headers={"Authorization": f"Bearer {token}", **headers})


def _payloads(rt, event_type):
    with rt.engine.connect() as conn:
        return [json.loads(p)["data"] for p in conn.execute(sa.text(
            "SELECT payload FROM outbox WHERE event_type = :t ORDER BY seq"),
            {"t": event_type}).scalars()]


def test_a_person_chooses_their_language_and_it_is_announced(service):  # noqa: F811
    rt, client, _ = service
    token = sign_in(client)
    assert _call(client, "GET", "/api/v1/me", token).json["language"] is None
    chosen = _call(client, "PATCH", "/api/v1/me", token, {"language": "cy"})
    assert chosen.status_code == 200 and chosen.json == {"language": "cy"}
    me = _call(client, "GET", "/api/v1/me", token).json
    assert me["language"] == "cy"
    assert _call(client, "PATCH", "/api/v1/me", token, {"language": "en"}).json == {
        "language": "en"}
    assert [p["language"] for p in _payloads(rt, "LanguageChosen")] == ["cy", "en"]
    assert {p["account_id"] for p in _payloads(rt, "LanguageChosen")} == {me["id"]}


def test_only_our_languages_are_accepted(service):  # noqa: F811
    rt, client, _ = service
    token = sign_in(client)
    for body in ({"language": "fr"}, {}, {"language": None}):
        refused = _call(client, "PATCH", "/api/v1/me", token, body)
        assert refused.status_code == 422, body
        assert "language" in refused.json["error"]["fields"]
    assert _payloads(rt, "LanguageChosen") == []


def test_a_school_sets_its_default_language(service):  # noqa: F811
    rt, client, _ = service
    token = sign_in(client)
    english = _call(client, "POST", "/api/v1/schools", token, {"name": "Hill School"})
    welsh = _call(client, "POST", "/api/v1/schools", token,
                  {"name": "Ysgol y Bryn", "default_language": "cy"})
    assert english.status_code == welsh.status_code == 201
    school_id = english.json["id"]
    shown = _call(client, "GET", f"/api/v1/schools/{welsh.json['id']}", token).json
    assert shown["default_language"] == "cy"
    changed = _call(client, "PATCH", f"/api/v1/schools/{school_id}", token,
                    {"default_language": "cy"})
    assert changed.status_code == 200 and changed.json["default_language"] == "cy"
    assert _call(client, "PATCH", f"/api/v1/schools/{school_id}", token,
                 {"default_language": "de"}).status_code == 422
    listed = _call(client, "GET", "/api/v1/schools", token).json["items"]
    assert {s["default_language"] for s in listed} == {"cy"}
    announced = _payloads(rt, "SchoolActivated")
    assert [p["default_language"] for p in announced] == ["en", "cy", "cy"]


def test_errors_answer_in_welsh_when_asked(service):  # noqa: F811
    _, client, _ = service
    token = sign_in(client)
    welsh = {"Accept-Language": "cy-GB, en;q=0.5"}
    refused = _call(client, "PATCH", "/api/v1/me", token, {"language": "fr"}, **welsh)
    assert refused.status_code == 422 and refused.headers["Content-Language"] == "cy"
    assert refused.json["error"]["message"] == "Mae rhai meysydd yn annilys."
    assert refused.json["error"]["fields"] == {"language": ["Rhaid iddo fod yn un o: en, cy."]}
    missing = _call(client, "PATCH", "/api/v1/me", token, {}, **welsh)
    assert missing.json["error"]["fields"]["language"] == [
        "Mae angen y maes hwn: nid oes data ar ei gyfer."]
    wrong = client.post("/api/v1/auth/token", headers=welsh, json={
        "grant_type": "password", "email": "nobody@example.org", "password": "not-it-at-all"})
    assert wrong.status_code == 401 and wrong.json["error"]["code"] == "invalid_credentials"
    assert wrong.json["error"]["message"] == (
        "Mae'r e-bost neu'r cyfrinair yn anghywir, neu bu gormod o ymdrechion: rhowch gynnig "
        "arall arni yn nes ymlaen.")
    unknown = client.get("/api/v1/nowhere", headers=welsh)
    assert unknown.status_code == 404 and unknown.json["error"]["message"].startswith(
        "Ni chanfuwyd yr URL")
    english = _call(client, "PATCH", "/api/v1/me", token, {"language": "fr"},
                    **{"Accept-Language": "en-GB"})
    assert english.headers["Content-Language"] == "en"
    assert english.json["error"]["fields"] == {"language": ["Must be one of: en, cy."]}
    unsaid = _call(client, "PATCH", "/api/v1/me", token, {"language": "fr"})
    assert unsaid.json["error"]["message"] == "Some fields are invalid."


def test_the_gateways_own_refusals_answer_in_welsh_when_asked():
    from werkzeug.test import Client

    from shared.gateway import Gateway
    client = Client(Gateway({}, {}))
    welsh = client.get("/api/v1/nowhere", headers={"Accept-Language": "cy"})
    assert welsh.status_code == 404 and welsh.headers["Content-Language"] == "cy"
    assert welsh.json["error"] == {"code": "not_found", "message": "Heb ei ganfod."}
    assert client.get("/api/v1/nowhere").json["error"]["message"] == "Not found."
