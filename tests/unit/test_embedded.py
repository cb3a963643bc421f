"""Embedded mode in-process: every service on kombu memory:// and SQLite, drained on stop."""
import uuid
from dataclasses import replace

import sqlalchemy as sa

from shared.config import RIGHTS_PARTICIPANTS, Settings
from shared.embedded import EmbeddedSystem, load_specs
from tests.support import wait_for


def test_a_rights_event_fans_out_to_every_participant_and_drains_before_stop(tmp_path):
    tag = uuid.uuid4().hex[:8]
    settings = replace(Settings.from_env({"PP_DATA_DIR": str(tmp_path)}),
                       exchange=f"pp.embedded.{tag}", queue_prefix=f"emb.{tag}.")
    system = EmbeddedSystem(settings, load_specs())
    system.start()
    try:
        wait_for(lambda: all(w.connected.is_set() for rt in system.runtimes.values()
                             for w in rt.queue_workers), message="consumers connected")
        dsar = system.runtimes["dsar"]
        school = str(uuid.uuid4())
        with dsar.context.sessions() as s, s.begin():
            request = dsar.context.outbox.add(s, "ErasureRequested", {
                "subject": {"school_id": school, "type": "student", "id": str(uuid.uuid4())},
                "subject_request_id": str(uuid.uuid4())}, school_id=school)
        assert system.drain(timeout=30)
        for name in RIGHTS_PARTICIPANTS:
            engine = system.runtimes[name].engine
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM inbox WHERE event_id=:e"),
                                    {"e": request.id}).scalar_one() == 1, name
                unsent = conn.execute(sa.text(
                    "SELECT count(*) FROM outbox WHERE sent_at IS NULL")).scalar_one()
                assert unsent == 0, f"{name} answer still in its outbox"
        with dsar.engine.connect() as conn:
            answered = conn.execute(sa.text(
                "SELECT count(*) FROM inbox WHERE event_type='ErasureCompleted'"
            )).scalar_one()
        assert answered == len(RIGHTS_PARTICIPANTS)  # every answer reached dsar
    finally:
        system.stop()


def test_mail_links_point_at_the_gateways_own_port_unless_told_otherwise():
    from shared.config import Settings
    assert Settings.from_env({}).public_url == "http://127.0.0.1:8080"
    assert Settings.from_env({"PP_GATEWAY_PORT": "18123"}).public_url == \
        "http://127.0.0.1:18123"
    assert Settings.from_env({"PP_GATEWAY_PORT": "18123",
                              "PP_PUBLIC_URL": "https://pp.example.org/"}).public_url == \
        "https://pp.example.org"
