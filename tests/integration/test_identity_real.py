"""Identity through its API, on real PostgreSQL and RabbitMQ: schools, invitations,
activation, sign-in, refresh rotation, throttling and per-school erasure (issue 4).
School-data events are published by the test, standing in for ingest."""
import datetime as dt
import threading
import uuid
from dataclasses import replace

import pytest
import sqlalchemy as sa

from services.identity import domain
from services.identity.app import SPEC
from services.identity.models import accounts, memberships
from shared.db import utcnow
from shared.messaging.envelope import new_envelope
from shared.service import ServiceRuntime
from shared.worker import run_threads
from tests import second_factor
from tests.support import EventTap, publish_events, wait_for

pytestmark = pytest.mark.integration
OPERATOR = ("ops@example.org", "operator-secret-1")


class FakeClock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += dt.timedelta(**delta)


class IdentityUnderTest:
    def __init__(self, settings, tmp_path, database_url):
        settings = replace(settings, data_dir=tmp_path,
                           database_urls={**settings.database_urls, "identity": database_url},
                           bootstrap_operator_email=OPERATOR[0],
                           bootstrap_operator_password=OPERATOR[1])
        self.settings = settings
        self.tap = EventTap(settings, "identity.#")
        self.rt = ServiceRuntime(SPEC, settings)
        self.rt.start()
        self.app = self.rt.create_app()
        self.client = self.app.test_client()
        self.identity = self.rt.context.use_cases.identity
        self.stop = threading.Event()
        self.threads = run_threads(self.rt.build_workers(), self.stop)
        wait_for(lambda: all(w.connected.is_set() for w in self.rt.queue_workers),
                 message="identity consumers connected")

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)
        self.tap.close()
        self.rt.engine.dispose()

    # --- HTTP helpers ---------------------------------------------------------------------
    def post(self, path, body=None, token=None, address="198.51.100.7"):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.post(path, json=body, headers=headers,
                                environ_base={"REMOTE_ADDR": address})

    def sign_in(self, email, password, address="198.51.100.7"):
        return self.post("/api/v1/auth/token", {"grant_type": "password", "email": email,
                                                "password": password}, address=address)

    def token(self, email, password) -> str:
        """The access token; a staff or operator one passed the second factor."""
        response = self.sign_in(email, password)
        assert response.status_code == 200, response.json
        return second_factor.complete(second_factor.flask_post(self.client),
                                      response.json)["access_token"]

    def erase_guardian(self, school_id, guardian_id) -> dict:
        """dsar's ErasureRequested for a guardian at one school; identity's answer."""
        erasure = self.publish("ErasureRequested", {
            "subject": {"school_id": school_id, "type": "guardian", "id": guardian_id},
            "subject_request_id": str(uuid.uuid4())}, school_id, producer="dsar")
        return self.tap.wait("ErasureCompleted", lambda d: d["request_id"] == erasure.id)

    def publish(self, event_type, data, school_id, producer="ingest"):
        envelope = new_envelope(event_type, data, producer=producer, school_id=school_id)
        self.last_published = envelope.id
        publish_events(self.settings, envelope)
        return envelope

    def invitation_for(self, email) -> dict:
        return self.tap.wait("InvitationIssued", lambda d: d["email"] == email)["data"]

    def new_school(self, operator_token, name="Hill School") -> str:
        response = self.post("/api/v1/schools", {"name": name, "authorisation": {
            "reference": "DPIA-2026-01", "authorised_by": "Head Teacher",
            "date": "2026-11-01"}}, token=operator_token)
        assert response.status_code == 201, response.json
        return response.json["id"]

    def guardian(self, school_id, email, version=1, guardian_id=None):
        guardian_id = guardian_id or str(uuid.uuid4())
        self.publish("GuardianRecorded", {"guardian_id": guardian_id, "given_name": "Pat",
                                          "family_name": "Parent", "email": email,
                                          "record_version": version}, school_id)
        return guardian_id

    def existing_login_invitations(self, email, sent=1) -> list[dict]:
        """The invitations for an existing login to this email, once `sent` were seen."""
        def seen():
            self.tap.wait("InvitationIssued", lambda d: d["email"] == email
                          and d["existing_login"])
            found = [e["data"] for e in self.tap.seen if e["type"] == "InvitationIssued"
                     and e["data"]["email"] == email and e["data"]["existing_login"]]
            return found if len(found) >= sent else None
        return wait_for(seen, message=f"{sent} invitation(s)")

    def accept(self, email, password, sent=1) -> None:
        """Accept the newest of the `sent` invitations for an existing login, with its own
        password."""
        newest = self.existing_login_invitations(email, sent)[-1]
        assert self.post("/api/v1/auth/activate", {"token": newest["token"],
                                                   "password": password}).status_code == 200

    def parent_account(self, school_id, email) -> tuple[str, str]:
        """A guardian pushed by the school, invited and activated: (guardian id, password)."""
        guardian_id = self.guardian(school_id, email)
        invitation = self.invitation_for(email)
        password = "parent-pass-" + uuid.uuid4().hex[:6]
        assert self.post("/api/v1/auth/activate", {"token": invitation["token"],
                                                   "password": password}).status_code == 200
        return guardian_id, password


@pytest.fixture
def idp(broker_settings, new_database, tmp_path):
    service = IdentityUnderTest(broker_settings, tmp_path, new_database("identity"))
    yield service
    service.close()


def test_school_admin_and_parent_journeys_through_the_api(idp):
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    activated_school = idp.tap.wait("SchoolActivated", lambda d: d["school_id"] == school)
    assert activated_school["data"]["name"] == "Hill School"

    # The operator invites an admin; the token travels once, on the broker.
    response = idp.post(f"/api/v1/schools/{school}/staff", {
        "name": "Ada Admin", "email": "Ada@Example.org", "role": "school_admin"},
        token=operator)
    assert response.status_code == 201
    admin_id = response.json["id"]
    invitation = idp.invitation_for("ada@example.org")
    assert invitation["account_id"] == admin_id and invitation["role"] == "school_admin"
    with idp.rt.engine.connect() as conn:  # only the hash is stored
        stored = conn.execute(sa.text("SELECT token_hash FROM invitations")).scalars().all()
    assert invitation["token"] not in stored and len(stored) == 1

    activate = {"token": invitation["token"], "password": "admin-password-1"}
    assert idp.post("/api/v1/auth/activate", activate).status_code == 200
    again = idp.post("/api/v1/auth/activate", {**activate, "password": "other-password-2"})
    assert again.status_code == 400 and again.json["error"]["code"] == "invalid_token"
    activated = idp.tap.wait("AccountActivated", lambda d: d["account_id"] == admin_id)
    assert activated["data"]["role"] == "school_admin"

    admin = idp.token("ada@example.org", "admin-password-1")
    me = idp.client.get("/api/v1/me", headers={"Authorization": f"Bearer {admin}"}).json
    assert me == {"id": admin_id, "role": "school_admin", "roles": ["school_admin"],
                  "school_ids": [school], "name": "Ada Admin", "email": "ada@example.org",
                  "language": None,
                  "schools": [{"id": school, "name": "Hill School", "office_email": None,
                               "office_phone": None}]}  # issue 24: each school, named

    # A guardian pushed by the school becomes a parent account with its own invitation.
    guardian_id = idp.guardian(school, "pat@example.org")
    parent_invitation = idp.invitation_for("pat@example.org")
    assert parent_invitation["role"] == "parent"
    assert idp.post("/api/v1/auth/activate", {
        "token": parent_invitation["token"], "password": "parent-password-1"}).status_code == 200
    parent_activated = idp.tap.wait("AccountActivated",
                                    lambda d: d["account_id"] == parent_invitation["account_id"])
    assert parent_activated["data"]["guardian_ids"] == [guardian_id]

    signed_in = idp.sign_in("pat@example.org", "parent-password-1").json
    refreshed = idp.post("/api/v1/auth/token", {"grant_type": "refresh_token",
                                                "refresh_token": signed_in["refresh_token"]})
    assert refreshed.status_code == 200
    assert refreshed.json["refresh_token"] != signed_in["refresh_token"]
    principal = idp.app.extensions["pp_verifier"].verify(refreshed.json["access_token"])
    assert (principal.account_id, principal.role, principal.school_ids) == (
        parent_invitation["account_id"], "parent", (school,))


def test_wrong_password_and_unknown_email_get_the_same_answer(idp):
    wrong = idp.sign_in(OPERATOR[0], "not-the-password")
    unknown = idp.sign_in("nobody@example.org", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(idp):
    first = idp.sign_in(*OPERATOR).json["refresh_token"]

    def refresh(token):
        return idp.post("/api/v1/auth/token", {"grant_type": "refresh_token",
                                               "refresh_token": token})
    second = refresh(first).json["refresh_token"]
    third = refresh(second).json["refresh_token"]
    replay = refresh(first)  # a stolen, already rotated token
    assert replay.status_code == 401 and replay.json["error"]["code"] == "invalid_grant"
    assert refresh(third).status_code == 401  # the newest one stopped working too
    other_session = idp.sign_in(*OPERATOR).json["refresh_token"]
    assert refresh(other_session).status_code == 200  # another sign-in is its own family


def test_logout_revokes_the_refresh_token(idp):
    refresh_token = idp.sign_in(*OPERATOR).json["refresh_token"]
    assert idp.post("/api/v1/auth/logout", {"refresh_token": refresh_token}).status_code == 204
    again = idp.post("/api/v1/auth/token", {"grant_type": "refresh_token",
                                            "refresh_token": refresh_token})
    assert again.status_code == 401


def test_stored_password_hashes_are_argon2id_at_owasp_minimum(idp):
    idp.token(*OPERATOR)
    with idp.rt.engine.connect() as conn:
        stored = conn.execute(sa.select(accounts.c.password_hash)).scalars().all()
    assert stored
    for value in stored:
        algorithm, version, params, _salt, _hash = value.split("$")[1:]
        params = dict(p.split("=") for p in params.split(","))
        assert algorithm == "argon2id" and version == "v=19"
        assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2
        assert int(params["p"]) >= 1


def test_a_hash_below_the_current_parameters_is_upgraded_at_sign_in(idp):
    from argon2 import PasswordHasher, Type
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)
    with idp.rt.engine.begin() as conn:
        conn.execute(accounts.update().where(accounts.c.email == OPERATOR[0]).values(
            password_hash=weak.hash(OPERATOR[1])))
    idp.token(*OPERATOR)
    with idp.rt.engine.connect() as conn:
        upgraded = conn.execute(sa.select(accounts.c.password_hash).where(
            accounts.c.email == OPERATOR[0])).scalar_one()
    assert "m=19456,t=2,p=1" in upgraded


def test_guessing_is_throttled_per_address_and_never_locks_the_owner_out(idp):
    clock = FakeClock()
    idp.identity.clock = clock
    checks_before = idp.identity.password_checks
    # 150 guesses from one address: that (account, address) pair's lock refuses without
    # checking, so a handful of checks, not 150; the address then runs out of budget.
    answers = [idp.sign_in(OPERATOR[0], f"guess-{i}", address="203.0.113.2").status_code
               for i in range(150)]
    assert set(answers) == {401, 429} and answers[-1] == 429
    assert idp.identity.password_checks - checks_before <= 10
    # 150 guesses from 150 addresses: each pair has its own few checks, nobody is locked.
    answers = {idp.sign_in(OPERATOR[0], f"guess-{i}", address=f"10.0.{i // 200}.{i % 200}")
               .status_code for i in range(150)}
    assert answers == {401}

    # One address trying 1,000 accounts is cut off after a bounded number of tries.
    statuses = [idp.sign_in(f"user{i}@example.org", "guess", address="203.0.113.3")
                .status_code for i in range(1000)]
    assert statuses.count(401) <= 50 and statuses[-1] == 429
    limited = idp.sign_in("someone@example.org", "guess", address="203.0.113.3")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0

    # Throughout, the owner signs in from their own address at once.
    assert idp.sign_in(*OPERATOR, address="192.0.2.10").status_code == 200
    # The guessing address gets the owner's password checked again only after its lock.
    assert idp.sign_in(*OPERATOR, address="203.0.113.2").status_code == 429
    clock.advance(minutes=16)
    assert idp.sign_in(*OPERATOR, address="203.0.113.2").status_code == 200


def test_invitations_expire_can_be_resent_and_earlier_links_stop_working(idp):
    clock = FakeClock()
    idp.identity.clock = clock
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    response = idp.post(f"/api/v1/schools/{school}/staff", {
        "name": "Bo Admin", "email": "bo@example.org", "role": "school_admin"},
        token=operator)
    account_id = response.json["id"]
    first = idp.invitation_for("bo@example.org")["token"]
    clock.advance(days=8)  # past PP_INVITATION_DAYS (7)
    expired = idp.post("/api/v1/auth/activate", {"token": first, "password": "bo-password-1"})
    assert expired.status_code == 400
    assert idp.post(f"/api/v1/accounts/{account_id}/invitation", token=operator
                    ).status_code == 202
    second = idp.tap.wait("InvitationIssued", lambda d: d["token"] != first)["data"]["token"]
    assert idp.post("/api/v1/auth/activate", {"token": second,
                                              "password": "bo-password-1"}).status_code == 200


def test_client_credentials_for_a_school_system_and_revocation(idp):
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    issued = idp.post(f"/api/v1/schools/{school}/clients", token=operator).json
    grant = {"grant_type": "client_credentials", "client_id": issued["client_id"],
             "client_secret": issued["client_secret"]}
    response = idp.post("/api/v1/auth/token", grant)
    assert response.status_code == 200 and "refresh_token" not in response.json
    principal = idp.app.extensions["pp_verifier"].verify(response.json["access_token"])
    assert principal.role == "school_system" and principal.school_ids == (school,)
    with idp.rt.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT secret_hash FROM clients")).scalar_one()
    assert issued["client_secret"] not in stored
    assert idp.client.delete(f"/api/v1/schools/{school}/clients/{issued['client_id']}",
                             headers={"Authorization": f"Bearer {operator}"}).status_code == 204
    assert idp.post("/api/v1/auth/token", grant).status_code == 401


def test_erasing_a_guardian_at_one_school_keeps_their_relation_to_another(idp):
    operator = idp.token(*OPERATOR)
    north, south = idp.new_school(operator, "North"), idp.new_school(operator, "South")
    guardian_north, password = idp.parent_account(north, "sam@example.org")
    guardian_south = idp.guardian(south, "sam@example.org")
    # The person accepts South's invitation with the password they have: the login gains
    # the second school's guardian id (linking is told again).
    idp.accept("sam@example.org", password)
    idp.tap.wait("AccountActivated", lambda d: sorted(d["guardian_ids"]) == sorted(
        [guardian_north, guardian_south]))

    answer = idp.erase_guardian(north, guardian_north)
    assert answer["data"]["outcome"] == "done"
    with idp.rt.engine.connect() as conn:
        left = conn.execute(sa.select(memberships.c.school_id, memberships.c.guardian_id)
                            ).all()
    assert [(r.school_id, r.guardian_id) for r in left] == [(south, guardian_south)]
    signed_in = idp.sign_in("sam@example.org", password)
    assert signed_in.status_code == 200  # the login stays: South still holds it
    principal = idp.app.extensions["pp_verifier"].verify(signed_in.json["access_token"])
    assert principal.school_ids == (south,)

    # Erased at its last school too: the login itself goes.
    idp.erase_guardian(south, guardian_south)
    with idp.rt.engine.connect() as conn:
        assert conn.execute(sa.select(accounts.c.id).where(
            accounts.c.email == "sam@example.org")).first() is None
    # A late GuardianRecorded for the erased guardian does not bring the login back.
    idp.guardian(south, "sam@example.org", version=2, guardian_id=guardian_south)
    late = idp.guardian(south, "other@example.org")  # processed after the late one
    idp.invitation_for("other@example.org")
    with idp.rt.engine.connect() as conn:
        assert conn.execute(sa.select(accounts.c.id).where(
            accounts.c.email == "sam@example.org")).first() is None
    assert late


def test_offboarding_a_school_emits_school_offboarded_and_erases_its_part(idp):
    operator = idp.token(*OPERATOR)
    gone, stays = idp.new_school(operator, "Gone"), idp.new_school(operator, "Stays")
    idp.parent_account(gone, "only-gone@example.org")
    _, password = idp.parent_account(gone, "both@example.org")
    idp.guardian(stays, "both@example.org")
    idp.accept("both@example.org", password)
    idp.tap.wait("AccountActivated", lambda d: len(d["guardian_ids"]) == 2)
    response = idp.client.delete(f"/api/v1/schools/{gone}",
                                 headers={"Authorization": f"Bearer {operator}"})
    assert response.status_code == 202
    idp.tap.wait("SchoolOffboarded", lambda d: d["school_id"] == gone)
    done = idp.tap.wait("OffboardingCompleted", lambda d: d["service"] == "identity")
    assert done["data"]["outcome"] == "done"
    with idp.rt.engine.connect() as conn:
        emails = set(conn.execute(sa.select(accounts.c.email)).scalars().all())
        schools_left = set(conn.execute(sa.select(memberships.c.school_id)).scalars().all())
    assert "only-gone@example.org" not in emails and "both@example.org" in emails
    assert schools_left == {stays}
    assert idp.post("/api/v1/schools/" + gone + "/staff", {
        "name": "Late", "email": "late@example.org", "role": "school_admin"},
        token=operator).status_code == 404


def test_password_reset_by_email_signs_out_everywhere_and_never_says_who_exists(idp):
    old_refresh = idp.sign_in(*OPERATOR).json["refresh_token"]
    known = idp.post("/api/v1/auth/password-reset", {"email": OPERATOR[0]})
    unknown = idp.post("/api/v1/auth/password-reset", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 202 and known.json == unknown.json
    reset = idp.tap.wait("PasswordResetRequested", lambda d: d["email"] == OPERATOR[0])
    token = reset["data"]["token"]
    weak = idp.post("/api/v1/auth/password-reset/confirm", {"token": token, "password": "short"})
    assert weak.status_code == 422 and weak.json["error"]["code"] == "weak_password"
    assert idp.post("/api/v1/auth/password-reset/confirm", {
        "token": token, "password": "a-new-password-9"}).status_code == 200
    assert idp.post("/api/v1/auth/password-reset/confirm", {
        "token": token, "password": "another-password-9"}).status_code == 400  # single use
    assert idp.sign_in(*OPERATOR).status_code == 401
    assert idp.sign_in(OPERATOR[0], "a-new-password-9").status_code == 200
    assert idp.post("/api/v1/auth/token", {"grant_type": "refresh_token",
                                           "refresh_token": old_refresh}).status_code == 401


def test_reset_and_invitation_mails_are_capped_per_account_per_hour(idp):
    for _ in range(8):
        assert idp.post("/api/v1/auth/password-reset", {"email": OPERATOR[0]}
                        ).status_code == 202
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    account_id = idp.post(f"/api/v1/schools/{school}/staff", {
        "name": "Cy Admin", "email": "cy@example.org", "role": "school_admin"},
        token=operator).json["id"]
    resends = [idp.post(f"/api/v1/accounts/{account_id}/invitation", token=operator
                        ).status_code for _ in range(6)]
    assert resends.count(202) == 4 and resends[-1] == 429  # 5 mails an hour, first included

    def mails():
        idp.tap.wait("InvitationIssued", lambda d: d["account_id"] == account_id)
        resets = [e for e in idp.tap.seen if e["type"] == "PasswordResetRequested"]
        invitations = [e for e in idp.tap.seen if e["type"] == "InvitationIssued"
                       and e["data"]["account_id"] == account_id]
        return len(resets), len(invitations)
    wait_for(lambda: mails() == (5, 5), message="five of each mail, no more")

    def unsent() -> int:  # the tap sees an event a moment before the relay marks it sent
        with idp.rt.engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                                ).scalar_one()
    wait_for(lambda: unsent() == 0, message="none waiting to go out")
    assert mails() == (5, 5)


def test_student_accounts_only_where_the_school_enables_them(idp):
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    student = str(uuid.uuid4())
    record = {"student_id": student, "given_name": "Stu", "family_name": "Dent",
              "record_version": 1}
    idp.publish("StudentRecorded", record, school)
    idp.publish("StudentAccountRequested", {"student_id": student, "email": "stu@example.org",
                                            "record_version": 1}, school)
    marker = idp.guardian(school, "marker@example.org")  # queued after the two above
    idp.invitation_for("marker@example.org")
    with idp.rt.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM students")).scalar_one() == 0
        assert conn.execute(sa.select(accounts.c.id).where(
            accounts.c.email == "stu@example.org")).first() is None
    assert marker

    enabled = idp.client.patch(f"/api/v1/schools/{school}", json={"student_accounts": True},
                               headers={"Authorization": f"Bearer {operator}"})
    assert enabled.status_code == 200 and enabled.json["student_accounts"] is True
    idp.publish("StudentRecorded", {**record, "record_version": 2}, school)
    idp.publish("StudentAccountRequested", {"student_id": student, "email": "stu@example.org",
                                            "record_version": 2}, school)
    invitation = idp.invitation_for("stu@example.org")
    assert invitation["role"] == "student" and invitation["name"] == "Stu Dent"
    assert idp.post("/api/v1/auth/activate", {"token": invitation["token"],
                                              "password": "student-pass-1"}).status_code == 200
    activated = idp.tap.wait("AccountActivated",
                             lambda d: d["account_id"] == invitation["account_id"])
    assert activated["data"]["student_ids"] == [student]
    token = idp.token("stu@example.org", "student-pass-1")
    me = idp.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json
    assert me["role"] == "student" and me["school_ids"] == [school]


def test_bad_input_is_a_clear_4xx_and_changes_nothing(idp):
    operator = idp.token(*OPERATOR)
    missing = idp.post("/api/v1/auth/token", {"grant_type": "password", "email": "a@b.org"})
    assert missing.status_code == 422 and "password" in missing.json["error"]["fields"]
    grant = idp.post("/api/v1/auth/token", {"grant_type": "magic"})
    assert grant.status_code == 422
    bad_school = idp.post("/api/v1/schools", {"name": "", "authorisation": {
        "reference": "x", "authorised_by": "y", "date": "2026-02-30"}}, token=operator)
    assert bad_school.status_code == 422
    assert set(bad_school.json["error"]["fields"]) >= {"name", "authorisation"}
    bad_email = idp.post(f"/api/v1/schools/{idp.new_school(operator)}/staff", {
        "name": "X", "email": "not-an-email", "role": "school_admin"}, token=operator)
    assert bad_email.status_code == 422
    with idp.rt.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM schools")).scalar_one() == 1
    assert idp.post("/api/v1/schools", {"name": "X"}).status_code == 401
    parentless = idp.post("/api/v1/schools", {"name": "X"}, token="garbage")
    assert parentless.status_code == 401


def test_a_school_admin_reaches_only_their_own_school(idp):
    operator = idp.token(*OPERATOR)
    mine, other = idp.new_school(operator, "Mine"), idp.new_school(operator, "Other")
    admin = admin_of(idp, operator, mine, "di@example.org")
    staff = {"name": "Ed Admin", "email": "ed@example.org", "role": "school_admin"}
    assert idp.post(f"/api/v1/schools/{mine}/staff", staff, token=admin).status_code == 201
    assert idp.post(f"/api/v1/schools/{other}/staff", staff, token=admin).status_code == 404
    # Operator jobs: schools, their settings, offboarding and school-system credentials.
    assert idp.post("/api/v1/schools", {"name": "New"}, token=admin).status_code == 404
    assert idp.post(f"/api/v1/schools/{mine}/clients", token=admin).status_code == 404
    assert idp.client.patch(f"/api/v1/schools/{mine}", json={"student_accounts": True},
                            headers={"Authorization": f"Bearer {admin}"}).status_code == 404
    assert idp.client.delete(f"/api/v1/schools/{mine}",
                             headers={"Authorization": f"Bearer {admin}"}).status_code == 404


def admin_of(idp, operator, school, email) -> str:
    idp.post(f"/api/v1/schools/{school}/staff", {"name": "An Admin", "email": email,
                                                 "role": "school_admin"}, token=operator)
    invitation = idp.invitation_for(email)
    idp.post("/api/v1/auth/activate", {"token": invitation["token"],
                                       "password": "admin-password-1"})
    return idp.token(email, "admin-password-1")


def test_a_staff_invitation_to_another_login_waits_for_the_person_to_accept(idp):
    """Inviting an email that has a login (here a parent's) answers as for a fresh email,
    to an admin and to an operator alike; the login is untouched until the person accepts
    with their own password, and then acts in each role with a token of its own."""
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    _, parent_password = idp.parent_account(school, "parent@example.org")
    admin = admin_of(idp, operator, school, "probe-admin@example.org")
    as_admin = idp.post(f"/api/v1/schools/{school}/staff", {
        "name": "X", "email": "parent@example.org", "role": "school_admin"}, token=admin)
    fresh = idp.post(f"/api/v1/schools/{school}/staff", {
        "name": "Y", "email": "fresh@example.org", "role": "school_admin"}, token=admin)
    assert as_admin.status_code == fresh.status_code == 201  # the same answer
    assert uuid.UUID(as_admin.json["id"]).version == uuid.UUID(fresh.json["id"]).version == 4
    as_operator = idp.post(f"/api/v1/schools/{school}/staff", {
        "name": "X", "email": "parent@example.org", "role": "school_admin"}, token=operator)
    assert as_operator.status_code == 201 and as_operator.json == as_admin.json
    signed_in = idp.sign_in("parent@example.org", parent_password).json
    assert (signed_in["role"], signed_in["roles"]) == ("parent", ["parent"])  # not yet
    # The activation page learns which form to show; only the token's holder can ask.
    existing = idp.existing_login_invitations("parent@example.org", sent=2)[-1]["token"]
    new = idp.invitation_for("fresh@example.org")["token"]
    assert idp.post("/api/v1/auth/invitation", {"token": existing}).json[
        "existing_login"] is True
    assert idp.post("/api/v1/auth/invitation", {"token": new}).json["existing_login"] is False
    unknown = idp.post("/api/v1/auth/invitation", {"token": "x" * 43})
    assert unknown.status_code == 400 and unknown.json["error"]["code"] == "invalid_token"

    idp.accept("parent@example.org", parent_password, sent=2)
    signed_in = idp.sign_in("parent@example.org", parent_password).json
    assert (signed_in["role"], signed_in["roles"]) == ("school_admin",
                                                       ["school_admin", "parent"])
    as_parent = idp.post("/api/v1/auth/token", {
        "grant_type": "refresh_token", "refresh_token": signed_in["refresh_token"],
        "role": "parent"}).json
    verify = idp.app.extensions["pp_verifier"].verify
    assert verify(as_parent["access_token"]).role == "parent"
    again = idp.post("/api/v1/auth/token", {"grant_type": "refresh_token",
                                            "refresh_token": as_parent["refresh_token"]})
    assert verify(again.json["access_token"]).role == "parent"  # the sign-in keeps its role
    not_held = idp.post("/api/v1/auth/token", {
        "grant_type": "password", "email": "parent@example.org",
        "password": parent_password, "role": "student"})
    assert not_held.status_code == 422 and not_held.json["error"]["code"] == "role_not_held"
    refused = idp.post("/api/v1/auth/token", {
        "grant_type": "refresh_token", "refresh_token": again.json["refresh_token"],
        "role": "operator"})
    assert refused.status_code == 422  # and nothing rotated: the token still works
    assert idp.post("/api/v1/auth/token", {
        "grant_type": "refresh_token", "refresh_token": again.json["refresh_token"],
        "role": "school_admin"}).status_code == 200


def test_a_changed_student_email_moves_the_student_to_the_new_login(idp):
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    idp.client.patch(f"/api/v1/schools/{school}", json={"student_accounts": True},
                     headers={"Authorization": f"Bearer {operator}"})
    student = str(uuid.uuid4())
    idp.publish("StudentRecorded", {"student_id": student, "given_name": "Al",
                                    "family_name": "Pupil", "record_version": 1}, school)
    idp.publish("StudentAccountRequested", {"student_id": student, "email": "old@example.org",
                                            "record_version": 1}, school)
    idp.invitation_for("old@example.org")
    idp.publish("StudentAccountRequested", {"student_id": student, "email": "new@example.org",
                                            "record_version": 2}, school)
    idp.invitation_for("new@example.org")
    idp.publish("StudentAccountRequested", {"student_id": student, "email": "old@example.org",
                                            "record_version": 1}, school)  # late, older
    idp.guardian(school, "marker2@example.org")
    idp.invitation_for("marker2@example.org")
    with idp.rt.engine.connect() as conn:
        holders = conn.execute(sa.select(accounts.c.email).join(
            memberships, memberships.c.account_id == accounts.c.id).where(
            memberships.c.student_id == student)).scalars().all()
        old = conn.execute(sa.select(accounts.c.id).where(
            accounts.c.email == "old@example.org")).first()
    assert holders == ["new@example.org"] and old is None


def test_removed_guardians_and_offboarded_schools_do_not_come_back_or_linger(idp):
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    guardian = idp.guardian(school, "removed@example.org", version=1)
    idp.invitation_for("removed@example.org")
    idp.publish("GuardianRemoved", {"guardian_id": guardian, "record_version": 2}, school)
    idp.guardian(school, "removed@example.org", version=1, guardian_id=guardian)  # replayed
    idp.guardian(school, "marker3@example.org")
    idp.invitation_for("marker3@example.org")
    with idp.rt.engine.connect() as conn:
        assert conn.execute(sa.select(accounts.c.id).where(
            accounts.c.email == "removed@example.org")).first() is None
        # Nothing about the removed login is left in the outbox (its invitation included).
        assert conn.execute(sa.text("SELECT count(*) FROM outbox WHERE payload LIKE "
                                    "'%removed@example.org%'")).scalar_one() == 0

    assert idp.client.delete(f"/api/v1/schools/{school}",
                             headers={"Authorization": f"Bearer {operator}"}
                             ).status_code == 202
    idp.tap.wait("OffboardingCompleted", lambda d: d["service"] == "identity")
    idp.guardian(school, "straggler@example.org")
    straggler = idp.last_published
    wait_for(lambda: _inbox_has(idp, straggler), message="straggler consumed")
    with idp.rt.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dead_letters")).scalar_one() == 0
        assert conn.execute(sa.select(accounts.c.id).where(
            accounts.c.email == "straggler@example.org")).first() is None


def test_a_late_removal_older_than_the_record_held_changes_nothing(idp):
    """The school removed the person and added them back: the removal, arriving after the
    newer record, must not take away the relation (nor the login)."""
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    idp.client.patch(f"/api/v1/schools/{school}", json={"student_accounts": True},
                     headers={"Authorization": f"Bearer {operator}"})
    guardian = idp.guardian(school, "back@example.org", version=3)
    idp.invitation_for("back@example.org")
    student = str(uuid.uuid4())
    idp.publish("StudentRecorded", {"student_id": student, "given_name": "Al",
                                    "family_name": "Pupil", "record_version": 3}, school)
    idp.publish("StudentAccountRequested", {"student_id": student, "email": "al@example.org",
                                            "record_version": 3}, school)
    idp.invitation_for("al@example.org")
    idp.publish("GuardianRemoved", {"guardian_id": guardian, "record_version": 2}, school)
    idp.publish("StudentRemoved", {"student_id": student, "record_version": 2}, school)
    idp.guardian(school, "marker-late@example.org")  # consumed after the late removals
    idp.invitation_for("marker-late@example.org")
    with idp.rt.engine.connect() as conn:
        kept = conn.execute(sa.select(accounts.c.email).join(
            memberships, memberships.c.account_id == accounts.c.id).where(
            memberships.c.school_id == school,
            sa.or_(memberships.c.guardian_id == guardian,
                   memberships.c.student_id == student))).scalars().all()
    assert sorted(kept) == ["al@example.org", "back@example.org"]


def _inbox_has(idp, event_id) -> bool:
    with idp.rt.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM inbox WHERE event_id=:e"),
                            {"e": event_id}).scalar_one() == 1


def test_a_school_system_token_reads_its_own_me(idp):
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    issued = idp.post(f"/api/v1/schools/{school}/clients", token=operator).json
    token = idp.post("/api/v1/auth/token", {
        "grant_type": "client_credentials", "client_id": issued["client_id"],
        "client_secret": issued["client_secret"]}).json["access_token"]
    me = idp.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json
    assert me["role"] == "school_system" and me["school_ids"] == [school]


def test_an_access_request_exports_the_login_with_that_schools_relation(idp):
    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    guardian, _ = idp.parent_account(school, "export-me@example.org")
    request = idp.publish("AccessRequested", {
        "subject": {"school_id": school, "type": "guardian", "id": guardian},
        "subject_request_id": str(uuid.uuid4())}, school, producer="dsar")
    exported = idp.tap.wait("SubjectDataExported", lambda d: d["request_id"] == request.id)
    tables = exported["data"]["tables"]
    assert [m["guardian_id"] for m in tables["memberships"]] == [guardian]
    (account,) = tables["accounts"]
    assert account["email"] == "export-me@example.org" and "password_hash" not in account


def test_an_invitation_issued_before_they_were_per_school_accepts_the_whole_login(idp):
    """Migration 0003 leaves an unused invitation of a login not yet activated without a
    school: it promised the whole account, so it accepts every pending membership."""
    operator = idp.token(*OPERATOR)
    north, south = idp.new_school(operator, "North"), idp.new_school(operator, "South")
    idp.guardian(north, "early@example.org")
    idp.guardian(south, "early@example.org")
    token = idp.invitation_for("early@example.org")["token"]
    idp.tap.wait("InvitationIssued", lambda d: d["email"] == "early@example.org"
                 and d["token"] != token)  # the other school's
    with idp.rt.engine.begin() as conn:
        conn.execute(sa.text("UPDATE invitations SET school_id = NULL WHERE token_hash = :h"),
                     {"h": domain.hash_secret(token)})
    assert idp.post("/api/v1/auth/activate", {"token": token,
                                              "password": "early-pass-1"}).status_code == 200
    signed_in = idp.sign_in("early@example.org", "early-pass-1").json
    principal = idp.app.extensions["pp_verifier"].verify(signed_in["access_token"])
    assert principal.school_ids == tuple(sorted((north, south)))


def test_the_token_endpoint_takes_what_oauth_clients_send(idp):
    """Issue 24: RFC 6749's form-encoded body, the client's id and secret by HTTP Basic
    (form-encoded, then base64), and invalid_client (not "Email or password") for a wrong
    client secret."""
    import base64
    from urllib.parse import quote_plus

    operator = idp.token(*OPERATOR)
    school = idp.new_school(operator)
    issued = idp.post(f"/api/v1/schools/{school}/clients", token=operator).json
    form = idp.client.post("/api/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": issued["client_id"],
        "client_secret": issued["client_secret"], "scope": "oneroster"})
    assert form.status_code == 200, form.json
    assert form.json["token_type"] == "Bearer"

    def basic(client_id, secret):
        pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    by_basic = idp.client.post("/api/v1/auth/token", data={"grant_type": "client_credentials"},
                               headers=basic(issued["client_id"], issued["client_secret"]))
    assert by_basic.status_code == 200, by_basic.json
    principal = idp.app.extensions["pp_verifier"].verify(by_basic.json["access_token"])
    assert principal.role == "school_system" and principal.school_ids == (school,)

    wrong = idp.client.post("/api/v1/auth/token", data={"grant_type": "client_credentials"},
                            headers=basic(issued["client_id"], "not-the-secret"))
    assert wrong.status_code == 401 and wrong.json["error"]["code"] == "invalid_client"
    assert "password" not in wrong.json["error"]["message"].lower()
    assert wrong.headers["WWW-Authenticate"].startswith("Basic")
    in_json = idp.post("/api/v1/auth/token", {"grant_type": "client_credentials",
                                              "client_id": issued["client_id"],
                                              "client_secret": "not-the-secret"})
    assert in_json.status_code == 401 and in_json.json["error"]["code"] == "invalid_client"

    both = idp.client.post("/api/v1/auth/token", data={
        "grant_type": "client_credentials", "client_id": issued["client_id"],
        "client_secret": issued["client_secret"]},
        headers=basic(issued["client_id"], issued["client_secret"]))
    assert both.status_code == 422 and "client_id" in both.json["error"]["fields"]

    # A person's sign-in, form-encoded, as an OAuth client sends the password grant.
    signed_in = idp.client.post("/api/v1/auth/token", data={
        "grant_type": "password", "email": OPERATOR[0], "password": OPERATOR[1]},
        environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert signed_in.status_code == 200 and signed_in.json["role"] == "operator"
