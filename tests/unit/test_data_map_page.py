"""What the web app's "How we keep your data safe" and requests screens read: the data map
generated from the declarations (GET /api/v1/data-map), the privacy notice's versions
(GET /api/v1/privacy-notices), and a parent's own requests (GET /api/v1/subject-requests,
/subject-requests/subjects)."""
import importlib
import uuid
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.auth import TokenSigner, TokenVerifier, key_id
from shared.config import SERVICES, Settings
from shared.contracts import typed as ev
from shared.rights import Personal
from shared.rights.datamap import SERVICE_ROLES, SERVICE_TITLES, data_map, declaration_of
from shared.service import ServiceRuntime
from tests import second_factor

SCHOOL = str(uuid.uuid4())


def test_every_service_is_named_and_described():
    assert set(SERVICE_TITLES) == set(SERVICES) == set(SERVICE_ROLES)
    assert [s["service"] for s in data_map()["services"]] == list(SERVICES)


@pytest.mark.parametrize("name", SERVICES)
def test_the_page_shows_exactly_the_declared_personal_columns(name):
    declaration = declaration_of(name)
    (entry,) = [s for s in data_map()["services"] if s["service"] == name]
    shown = {(item["table"], column, item["whose"], item["purpose"])
             for item in entry["held"] for column in item["columns"]}
    declared = {(table.table, column, kind.whose, kind.purpose)
                for table in declaration.tables for column, kind in table.columns.items()
                if isinstance(kind, Personal)}
    assert shown == declared
    assert all(item["fields"] and item["whose_text"] for item in entry["held"])


def test_a_new_personal_column_reaches_the_page(monkeypatch):
    """Not a copy: the map is built from the declarations themselves."""
    from shared.rights import DataDeclaration, TableDeclaration
    from shared.rights import datamap
    module = importlib.import_module("services.linking.personal_data")
    extra = TableDeclaration("pets", {"pet_name": Personal("student", "a test column")})
    monkeypatch.setattr(module, "DECLARATION", DataDeclaration(
        "linking", (*module.DECLARATION.tables, extra)))
    datamap.data_map.cache_clear()
    try:
        (linking,) = [s for s in datamap.data_map()["services"] if s["service"] == "linking"]
        assert {"table": "pets", "columns": ["pet_name"], "purpose": "a test column"}.items() \
            <= next(i for i in linking["held"] if i["table"] == "pets").items()
    finally:
        datamap.data_map.cache_clear()


def _runtime(name, tmp_path):
    spec = importlib.import_module(f"services.{name}.app").SPEC
    rt = ServiceRuntime(spec, Settings.from_env({"PP_DATA_DIR": str(tmp_path)}))
    rt.start()
    key = Ed25519PrivateKey.generate()
    rt.verifier = TokenVerifier(lambda: {key_id(key.public_key()): key.public_key()})
    return rt, rt.create_app().test_client(), TokenSigner(key)


def test_dsar_serves_the_data_map_to_anyone(tmp_path):
    rt, client, _ = _runtime("dsar", tmp_path)
    try:
        response = client.get("/api/v1/data-map")
        assert response.status_code == 200 and response.get_json() == data_map()
    finally:
        rt.engine.dispose()


def test_the_privacy_notice_versions_are_public_newest_first(tmp_path):
    rt, client, signer = _runtime("notifications", tmp_path)
    try:
        assert client.get("/api/v1/privacy-notices").get_json() == {"items": [], "next": None}
        operator_token = signer.issue(str(uuid.uuid4()), "operator", [],
                                      **second_factor.passed_claims())
        operator = {"Authorization": f"Bearer {operator_token}"}
        for version, date in (("2027-01", "2027-01-31"), ("2027-06", "2027-06-30"),
                              ("2027-01", "2027-01-31")):  # announced twice: listed once
            assert client.post("/api/v1/privacy-notices", headers=operator, json={
                "version": version, "effective_date": date,
                "text": f"Notice {version}."}).status_code == 202
        items = client.get("/api/v1/privacy-notices").get_json()["items"]
        assert [(i["version"], i["effective_date"]) for i in items] == [
            ("2027-06", "2027-06-30"), ("2027-01", "2027-01-31")]
        assert client.get("/api/v1/privacy-notices/2027-06").get_json()["text"] == \
            "Notice 2027-06."
    finally:
        rt.engine.dispose()


def test_a_parent_lists_whom_they_may_ask_about_and_their_own_requests(tmp_path):
    rt, client, signer = _runtime("dsar", tmp_path)
    try:
        dsar = rt.context.use_cases.dsar
        parent, other, guardian, child = (str(uuid.uuid4()) for _ in range(4))
        envelope = SimpleNamespace(id=str(uuid.uuid4()), school_id=SCHOOL)
        with rt.context.sessions() as session, session.begin():
            dsar.on_account_activated(session, envelope, ev.AccountActivated(
                account_id=parent, role="parent", guardian_ids=[guardian], student_ids=[]))
            dsar.on_link(session, envelope, ev.ParentVerified(
                record_version=1, link_id=str(uuid.uuid4()), account_id=parent,
                guardian_id=guardian, student_id=child), verified=True)
        as_parent = {"Authorization": f"Bearer {signer.issue(parent, 'parent', [SCHOOL])}"}
        subjects = client.get("/api/v1/subject-requests/subjects", headers=as_parent)
        assert sorted((s["type"], s["id"], s["yourself"])
                      for s in subjects.get_json()["items"]) == sorted(
            [("guardian", guardian, True), ("student", child, False)])
        filed = client.post("/api/v1/subject-requests", headers=as_parent, json={
            "kind": "access", "subject": {"type": "guardian", "id": guardian}})
        assert filed.status_code == 201 and filed.get_json()["status"] == "awaiting_school"
        mine = client.get("/api/v1/subject-requests", headers=as_parent).get_json()["items"]
        assert [(r["id"], r["kind"], r["status"]) for r in mine] == [
            (filed.get_json()["id"], "access", "awaiting_school")]
        assert mine[0]["received_at"]
        as_other = {"Authorization": f"Bearer {signer.issue(other, 'parent', [SCHOOL])}"}
        assert client.get("/api/v1/subject-requests", headers=as_other).get_json()["items"] == []
        assert client.get("/api/v1/subject-requests/subjects",
                          headers=as_other).get_json()["items"] == []
    finally:
        rt.engine.dispose()
