"""Issue 29 on real PostgreSQL and RabbitMQ: a parent chooses Welsh when activating; identity
keeps it on the login (GET /api/v1/me), announces it (LanguageChosen, on the broker for
notifications), exports it on an access request and erases it with the account."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from shared.messaging.envelope import new_envelope
from tests.support import publish_events
from tests.system import RealSystem, guardian, student

pytestmark = pytest.mark.integration


def test_a_parents_welsh_is_kept_announced_exported_and_erased(broker_settings, tmp_path,
                                                                new_database):
    system = RealSystem(broker_settings, tmp_path, new_database, ["identity", "ingest",
                                                           "notifications"])
    try:
        school, system_token = system.school("Ysgol y Bryn")
        system.push(system_token, [student("S1"),
                                   guardian("G1", "rhiant@bryn.example.org", {"S1": True})])
        token = system.activate("rhiant@bryn.example.org", language="cy")
        me = system.call("identity", "get", "/api/v1/me", token).json
        assert me["language"] == "cy"
        chosen = system.tap.wait("LanguageChosen", lambda d: d["account_id"] == me["id"])
        assert chosen["producer"] == "identity" and chosen["data"]["language"] == "cy"
        guardian_id = system.tap.wait("GuardianRecorded", lambda d: d["email"] ==
                                      "rhiant@bryn.example.org")["data"]["guardian_id"]
        access = new_envelope("AccessRequested", {
            "subject": {"school_id": school, "type": "guardian", "id": guardian_id},
            "subject_request_id": str(uuid.uuid4())}, producer="dsar", school_id=school)
        publish_events(system.settings, access)
        exported = system.tap.wait("SubjectDataExported", lambda d: d["request_id"] ==
                                   access.id and d["service"] == "identity")
        (account,) = exported["data"]["tables"]["accounts"]
        assert account["language"] == "cy"
        erased = system.rights_request("ErasureRequested", school, "guardian", guardian_id,
                                       "identity")
        assert erased["data"]["outcome"] == "done"
        with system.runtimes["identity"].engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM accounts WHERE id = :a"),
                                {"a": me["id"]}).scalar() == 0
            # the event that carried it is not kept readable either
            assert conn.execute(sa.text(
                "SELECT count(*) FROM outbox WHERE event_type = 'LanguageChosen' AND "
                "payload IS NOT NULL")).scalar() == 0
    finally:
        system.close()
