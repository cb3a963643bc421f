"""Embedded mode in-process: every service on kombu memory:// and SQLite, drained on stop."""
import uuid
from dataclasses import replace

import sqlalchemy as sa

from shared.config import RIGHTS_PARTICIPANTS, Settings
from shared.embedded import EmbeddedSystem, load_specs
from tests import second_factor
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


def test_a_signed_out_token_is_refused_by_every_service_of_the_gateway(tmp_path):
    """Embedded mode (one process, SQLite, memory://): each service applies TokensRevoked
    to its own database and refuses the token through the gateway within seconds."""
    from werkzeug.test import Client
    tag = uuid.uuid4().hex[:8]
    settings = replace(Settings.from_env({"PP_DATA_DIR": str(tmp_path)}),
                       exchange=f"pp.embedded.{tag}", queue_prefix=f"emb.{tag}.",
                       bootstrap_operator_email="ops@example.org",
                       bootstrap_operator_password="operator-secret-1")
    system = EmbeddedSystem(settings, load_specs())
    client = Client(system.start())
    paths = {"identity": "/api/v1/me", "ingest": "/api/v1/school-data/batches",
             "linking": "/api/v1/links", "reports": "/api/v1/reports",
             "notifications": "/api/v1/notification-preferences",
             "dsar": "/api/v1/offboardings"}
    try:
        def sign_in():
            response = client.post("/api/v1/auth/token", json={
                "grant_type": "password", "email": "ops@example.org",
                "password": "operator-secret-1"})
            assert response.status_code == 200, response.json
            return second_factor.complete(second_factor.flask_post(client), response.json)

        def statuses(token):
            return {service: client.get(path, headers={
                "Authorization": f"Bearer {token}"}).status_code
                for service, path in paths.items()}
        leaving, staying = sign_in(), sign_in()
        assert 401 not in statuses(leaving["access_token"]).values()
        assert client.post("/api/v1/auth/logout", json={
            "refresh_token": leaving["refresh_token"]}).status_code == 204
        wait_for(lambda: set(statuses(leaving["access_token"]).values()) == {401},
                 timeout=10, message="every service refusing the signed-out token")
        assert 401 not in statuses(staying["access_token"]).values()
    finally:
        system.stop()
