"""Ingest as a rights participant: what it still holds is unsent events (SQLite, no relay)."""
import json
import uuid

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.ingest.app import SPEC
from shared.auth import TokenSigner, TokenVerifier, key_id
from shared.config import Settings
from tests.support import NullPublisher
from shared.rights.participant import Subject
from shared.service import ServiceRuntime

SCHOOL = str(uuid.uuid4())


@pytest.fixture
def ingest(tmp_path):
    rt = ServiceRuntime(SPEC, Settings.from_env({"PP_DATA_DIR": str(tmp_path)}))
    rt.start()
    key = Ed25519PrivateKey.generate()
    rt.verifier = TokenVerifier(lambda: {key_id(key.public_key()): key.public_key()})
    client = rt.create_app().test_client()
    token = TokenSigner(key).issue(str(uuid.uuid4()), "school_system", [SCHOOL])
    response = client.post("/api/v1/school-data/batches", json={"batch_id": "b1", "events": [
        {"type": "student.upserted", "source_id": s, "data": {
            "given_name": name, "family_name": "Lee", "date_of_birth": "2015-03-02",
            "form_group": "7A", "year_group": 7}} for s, name in (("S1", "Ann"), ("S2", "Bo"))]},
        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202 and response.json["accepted"] == 2
    yield rt, client, token
    rt.engine.dispose()


def student_id(rt, name) -> str:
    with rt.engine.connect() as conn:
        for payload in conn.execute(sa.text("SELECT payload FROM outbox")).scalars():
            event = json.loads(payload)
            if event["type"] == "StudentRecorded" and event["data"]["given_name"] == name:
                return event["data"]["student_id"]
    raise AssertionError(name)


def test_access_exports_the_subjects_own_waiting_events_and_erasure_forgets_its_id(ingest):
    import datetime as dt

    from shared.messaging.relay import OutboxRelay
    rt, _, _ = ingest
    ann, bo = student_id(rt, "Ann"), student_id(rt, "Bo")
    participant = rt.context.participant
    with rt.context.sessions() as session, session.begin():
        exported = participant.export(session, Subject(SCHOOL, "student", ann))
        counts = participant.erase(session, Subject(SCHOOL, "student", ann))
    types = sorted(e["event_type"] for e in exported["unsent_events"])
    assert types == ["StudentBirthDateRecorded", "StudentPlacementRecorded",
                     "StudentRecorded"]
    assert all(e["data"]["student_id"] == ann for e in exported["unsent_events"])
    assert counts["records"] == 1  # a push after the erasure gets a new id
    with rt.engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT id FROM records")).scalars().all()
    assert ids == [bo]

    relay = OutboxRelay(rt.engine, rt.spec.tables, NullPublisher(), retention=dt.timedelta(0))
    relay.publish_batch()
    with rt.engine.connect() as conn:
        left = conn.execute(sa.text("SELECT payload FROM outbox WHERE payload IS NOT NULL")
                            ).scalars().all()
    assert left == []  # sent, and nothing kept


def test_offboarding_removes_the_school_and_refuses_its_later_pushes(ingest):
    rt, client, token = ingest
    with rt.context.sessions() as session, session.begin():
        counts = rt.context.participant.offboard(session, SCHOOL)
    assert counts["unsent_events"] == 6 and counts["records"] == 2
    later = client.post("/api/v1/school-data/batches", json={"batch_id": "b2", "events": [
        {"type": "staff.deleted", "source_id": "T1"}]},
        headers={"Authorization": f"Bearer {token}"})
    assert later.status_code == 409 and later.json["error"]["code"] == "school_offboarded"


def test_a_rejected_events_source_id_is_shown_exported_and_erased_with_its_subject(ingest):
    """Issue 24: the school's admin sees the source id of each rejected event (to find the
    record to correct); a source id that is itself invalid is never kept; the subject's
    access export has their rejections, and their erasure blanks the source id."""
    rt, client, token = ingest
    ann, bo = student_id(rt, "Ann"), student_id(rt, "Bo")
    bad = {"given_name": "Ann", "family_name": "Lee", "date_of_birth": "2015-02-30",
           "form_group": "7A", "year_group": 7}
    pushed = client.post("/api/v1/school-data/batches", json={"batch_id": "b-bad", "events": [
        {"type": "student.upserted", "source_id": "S1", "data": bad},
        {"type": "student.upserted", "source_id": "S2", "data": bad},
        {"type": "student.upserted", "source_id": "S\x003", "data": bad},
        {"type": "student.upserted", "source_id": "x" * 101, "data": bad}]},
        headers={"Authorization": f"Bearer {token}"})
    assert pushed.status_code == 202, pushed.json
    assert [(r["index"], r["source_id"]) for r in pushed.json["rejected"]] == [
        (0, "S1"), (1, "S2"), (2, None), (3, None)]
    shown = client.get("/api/v1/school-data/batches/b-bad",
                       headers={"Authorization": f"Bearer {token}"}).json["rejected"]
    assert [r["source_id"] for r in shown] == ["S1", "S2", None, None]
    assert "date_of_birth" in shown[0]["error"] and "2015-02-30" not in json.dumps(shown)

    participant = rt.context.participant
    with rt.context.sessions() as session, session.begin():
        exported = participant.export(session, Subject(SCHOOL, "student", ann))
        counts = participant.erase(session, Subject(SCHOOL, "student", ann))
    assert [(r["batch_id"], r["index"], r["source_id"]) for r in exported[
        "rejected_events"]] == [("b-bad", 0, "S1")]
    assert counts["rejected_source_ids"] == 1
    shown = client.get("/api/v1/school-data/batches/b-bad",
                       headers={"Authorization": f"Bearer {token}"}).json["rejected"]
    assert [r["source_id"] for r in shown] == [None, "S2", None, None]  # Bo's stays
    assert len(shown) == 4 and "date_of_birth" in shown[0]["error"]
    with rt.context.sessions() as session:
        assert participant.export(session, Subject(SCHOOL, "student", bo))[
            "rejected_events"][0]["source_id"] == "S2"
