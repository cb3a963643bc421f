"""Issue 24: a school's office email and phone are its settings, shown to its people
(GET /me names each of their schools with them) and announced to notifications."""
import json

import sqlalchemy as sa

from tests.unit.test_identity_tokens import service, sign_in  # noqa: F401


def _call(client, method, path, token, body=None):
    return client.open(path, method=method, json=body,
                       headers={"Authorization": f"Bearer {token}"})


def test_the_operator_sets_the_office_contact_and_it_is_announced(service):  # noqa: F811
    rt, client, _ = service
    operator = sign_in(client)
    created = _call(client, "POST", "/api/v1/schools", operator, {
        "name": "Demo Academy", "office_email": "office@demo.example"})
    assert created.status_code == 201, created.json
    school_id = created.json["id"]
    changed = _call(client, "PATCH", f"/api/v1/schools/{school_id}", operator,
                    {"office_phone": "+44 1632 960 123"})
    assert changed.status_code == 200
    assert changed.json["office_email"] == "office@demo.example"
    assert changed.json["office_phone"] == "+44 1632 960 123"
    shown = _call(client, "GET", f"/api/v1/schools/{school_id}", operator).json
    assert (shown["office_email"], shown["office_phone"]) == ("office@demo.example",
                                                              "+44 1632 960 123")
    bad = _call(client, "PATCH", f"/api/v1/schools/{school_id}", operator,
                {"office_phone": "call us"})
    assert bad.status_code == 422 and "office_phone" in json.dumps(bad.json)
    cleared = _call(client, "PATCH", f"/api/v1/schools/{school_id}", operator,
                    {"office_email": None})
    assert cleared.status_code == 200 and cleared.json["office_email"] is None
    with rt.engine.connect() as conn:
        payloads = [json.loads(p) for p in conn.execute(
            sa.text("SELECT payload FROM outbox WHERE event_type = 'SchoolActivated' "
                    "ORDER BY seq")).scalars()]
    assert len(payloads) == 3  # created, then each change
    assert payloads[1]["data"]["office_phone"] == "+44 1632 960 123"
    with rt.context.sessions() as session:
        contacts = rt.context.use_cases.identity.school_contacts(session, [school_id])
    assert contacts == [{"id": school_id, "name": "Demo Academy", "office_email": None,
                         "office_phone": "+44 1632 960 123"}]
    assert _call(client, "GET", "/api/v1/me", operator).json["schools"] == []
