"""Ingest on real PostgreSQL and RabbitMQ: a school system pushes batches with the client
credentials identity issued; the events wait in each consumer's queue (issue 5)."""
import json
import threading
import uuid
from dataclasses import replace

import pytest
import sqlalchemy as sa
from kombu import Connection

from services.identity.app import SPEC as IDENTITY
from services.ingest.app import SPEC as INGEST
from shared.messaging import topology
from shared.service import ServiceRuntime
from shared.worker import run_threads
from tests import second_factor
from tests.support import envelopes_of, ungathered, wait_for

pytestmark = pytest.mark.integration
OPERATOR = ("ops@example.org", "operator-secret-1")


class Push:
    """identity (for credentials) and ingest with its relay; consumers' queues observed."""

    def __init__(self, settings, tmp_path, new_database):
        self.settings = replace(
            settings, data_dir=tmp_path, bootstrap_operator_email=OPERATOR[0],
            bootstrap_operator_password=OPERATOR[1],
            database_urls={**settings.database_urls, "identity": new_database("identity"),
                           "ingest": new_database("ingest")})
        self.identity = ServiceRuntime(IDENTITY, self.settings)
        self.identity.start()
        self.ingest = ServiceRuntime(INGEST, self.settings)
        self.ingest.start()
        self.ingest.verifier = self.identity.verifier  # as embedded mode shares it
        self.id_client = self.identity.create_app().test_client()
        self.client = self.ingest.create_app().test_client()
        with Connection(self.settings.broker_url) as conn:
            topology.declare_topology(conn.channel(), self.settings)
        self.stop = threading.Event()
        self.threads = run_threads([loop for loop in self.ingest.build_workers()
                                    if loop[0].endswith("relay")], self.stop)
        self.operator = self._token({"grant_type": "password", "email": OPERATOR[0],
                                     "password": OPERATOR[1]})
        self.queued: dict[str, list[dict]] = {}

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)
        self.identity.engine.dispose()
        self.ingest.engine.dispose()

    def _token(self, grant) -> str:
        response = self.id_client.post("/api/v1/auth/token", json=grant)
        assert response.status_code == 200, response.json
        return second_factor.complete(second_factor.flask_post(self.id_client),
                                      response.json)["access_token"]

    def school(self, name="Hill School") -> tuple[str, str]:
        """A new school and a school-system token for it."""
        auth = {"Authorization": f"Bearer {self.operator}"}
        school = self.id_client.post("/api/v1/schools", json={"name": name},
                                     headers=auth).json["id"]
        client = self.id_client.post(f"/api/v1/schools/{school}/clients", headers=auth).json
        return school, self._token({"grant_type": "client_credentials", **client})

    def push(self, token, events, batch_id=None):
        return self.client.post("/api/v1/school-data/batches", json={
            "batch_id": batch_id or uuid.uuid4().hex, "events": events},
            headers={"Authorization": f"Bearer {token}"})

    def drained(self) -> bool:
        return self.ingest.relay is not None and self.ingest.relay.pending() == 0

    def queue(self, service: str, channel: str = "data") -> list[dict]:
        """Every event waiting in a consumer's queue so far (taken off the queue)."""
        name = f"{self.settings.queue_prefix}{service}.{channel}"
        seen = self.queued.setdefault(name, [])
        with Connection(self.settings.broker_url) as conn:
            channel_ = conn.channel()
            while True:
                message = channel_.basic_get(name, no_ack=True)
                if message is None:
                    break
                seen.extend(envelopes_of(message.body))
        return seen

    def events(self, service, event_type) -> list[dict]:
        wait_for(self.drained, message="ingest's outbox published")
        return [e for e in ungathered(self.queue(service)) if e["type"] == event_type]


@pytest.fixture
def school_push(broker_settings, tmp_path, new_database):
    push = Push(broker_settings, tmp_path, new_database)
    yield push
    push.close()


def student(source, **over):
    data = {"given_name": "Ann", "family_name": "Smith", "date_of_birth": "2015-03-02",
            "form_group": "7A", "year_group": 7}
    return {"type": "student.upserted", "source_id": source, "data": {**data, **over}}


def guardian(source, email, children):
    return {"type": "guardian.upserted", "source_id": source, "data": {
        "given_name": "Pat", "family_name": "Smith", "email": email,
        "students": [{"student_id": c, "relationship": "mother", "receives_reports": True}
                     for c in children]}}


def attainment(source, student_source, class_source="C1", **over):
    data = {"student_id": student_source, "class_id": class_source, "period": "2026 Autumn",
            "kind": "grade", "value": "B"}
    return {"type": "attainment.recorded", "source_id": source, "data": {**data, **over}}


def test_a_mixed_batch_applies_the_valid_events_and_reports_each_invalid_one(school_push):
    school, token = school_push.school()
    events = [
        student("S1"),                                                          # 0 ok
        attainment("A1", "S1", kind="score"),                                   # 1 bad kind
        student("S2", date_of_birth="2023-02-29"),                              # 2 no date
        guardian("G1", "pat@example.org\r\nBcc: evil@example.org", ["S1"]),     # 3 CRLF
        guardian("G2", "pat@example.org", ["S1"]),                              # 4 ok
        {"type": "student.exploded", "source_id": "S3", "data": {}},            # 5 bad type
        {"type": "class.upserted", "source_id": "C1", "data": {
            "name": "7A Maths", "subject": "Maths", "teacher_ids": ["T1"],
            "student_ids": ["S1"]}},                                            # 6 ok
        attainment("A2", "S1"),                                                 # 7 ok
        student("S4", given_name="Nul\x00l"),                                   # 8 NUL
    ]
    response = school_push.push(token, events)
    assert response.status_code == 202, response.json
    body = response.json
    assert body["accepted"] == 4
    reasons = {r["index"]: r["error"] for r in body["rejected"]}
    assert sorted(reasons) == [1, 2, 3, 5, 8]
    assert reasons[1].startswith("data.kind:") and reasons[2].startswith("data.date_of_birth:")
    assert reasons[3].startswith("data.email:") and reasons[5].startswith("type:")
    assert "given_name" in reasons[8]
    assert not any("evil" in r or "2023-02-29" in r for r in reasons.values())  # no values

    (recorded,) = school_push.events("reports", "StudentRecorded")
    ann = recorded["data"]["student_id"]
    assert recorded["school_id"] == school and recorded["data"]["given_name"] == "Ann"
    (grade,) = school_push.events("reports", "AttainmentRecorded")
    (klass,) = school_push.events("reports", "ClassRecorded")
    assert grade["data"]["student_id"] == ann == klass["data"]["student_ids"][0]
    assert grade["data"]["class_id"] == klass["data"]["class_id"]
    (contact,) = school_push.events("identity", "GuardianRecorded")
    assert contact["data"]["email"] == "pat@example.org"
    (children,) = school_push.events("linking", "GuardianStudentsRecorded")
    assert children["data"]["students"][0]["student_id"] == ann  # UUIDs, not source ids
    assert len(school_push.events("linking", "StudentBirthDateRecorded")) == 1  # S1 only


def test_the_same_batch_twice_or_concurrently_gives_one_set_of_events(school_push):
    _, token = school_push.school()
    events = [student(f"S{i}") for i in range(20)]
    first = school_push.push(token, events, batch_id="term-1")
    again = school_push.push(token, events, batch_id="term-1")
    assert first.status_code == again.status_code == 202 and first.json == again.json

    concurrent_events = [student(f"R{i}") for i in range(20)]
    answers = []

    def post():
        answers.append(school_push.push(token, concurrent_events, batch_id="term-2").json)
    threads = [threading.Thread(target=post) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 3 and all(a == answers[0] for a in answers)
    # The same content under a new batch id changes nothing downstream either.
    assert school_push.push(token, events, batch_id="term-3").json["accepted"] == 20
    recorded = school_push.events("reports", "StudentRecorded")
    assert len(recorded) == 40 and len({e["data"]["student_id"] for e in recorded}) == 40
    reused = school_push.push(token, events[:5], batch_id="term-1")
    assert reused.status_code == 409 and reused.json["error"]["code"] == "batch_id_reused"


def test_a_school_systems_token_writes_only_its_own_schools_data(school_push):
    school_a, token_a = school_push.school("A")
    school_b, _ = school_push.school("B")
    smuggled = school_push.client.post("/api/v1/school-data/batches", json={
        "batch_id": "x1", "school_id": school_b, "events": [student("S1")]},
        headers={"Authorization": f"Bearer {token_a}"})
    assert smuggled.status_code == 422
    assert "school_id" in smuggled.json["error"]["fields"]
    inside = school_push.push(token_a, [{**student("S2"), "school_id": school_b},
                                        student("S3")])
    assert inside.json["rejected"] == [{"index": 0, "error": "school_id: Unknown field.",
                                        "source_id": "S2"}]
    recorded = school_push.events("reports", "StudentRecorded")
    assert recorded and {e["school_id"] for e in recorded} == {school_a}
    operator = school_push.client.post("/api/v1/school-data/batches", json={
        "batch_id": "x2", "events": [student("S3")]},
        headers={"Authorization": f"Bearer {school_push.operator}"})
    assert operator.status_code == 404  # only school systems push


def test_a_year_group_out_of_range_or_an_unknown_field_is_refused_and_changes_nothing(
        school_push):
    """Issue 24: `year_group: 17` and a field we do not know were taken in silence (the
    field dropped). Each is refused by index naming the field, and the student keeps what
    the school pushed before."""
    _, token = school_push.school()
    assert school_push.push(token, [student("S1")]).json["accepted"] == 1
    (placed,) = school_push.events("reports", "StudentPlacementRecorded")
    answer = school_push.push(token, [
        student("S1", year_group=17, form_group="13Z"),
        student("S1", form_group="13Z", nickname="Annie"),
        {**student("S1", form_group="13Z"), "priority": "high"}])
    assert answer.status_code == 202 and answer.json["accepted"] == 0
    assert [(r["index"], r["error"]) for r in answer.json["rejected"]] == [
        (0, "data.year_group: A year group from 0 (Reception) to 13 (Year 13); leave it "
            "out when not known."),
        (1, "data.nickname: Unknown field."),
        (2, "priority: Unknown field.")]
    assert "Annie" not in str(answer.json) and "high" not in str(answer.json)
    assert school_push.events("reports", "StudentPlacementRecorded") == [placed]
    assert placed["data"]["year_group"] == 7 and placed["data"]["form_group"] == "7A"
    # Reception and Year 13 are year groups; left out, the year group is not known.
    unknown = student("S3")
    del unknown["data"]["year_group"]
    reception = school_push.push(token, [student("S1", year_group=0),
                                         student("S2", year_group=13), unknown])
    assert reception.json["accepted"] == 3
    wait_for(school_push.drained, message="published")
    years = {e["data"]["year_group"] for e in
             school_push.events("reports", "StudentPlacementRecorded")}
    assert years == {7, 0, 13, None}


def test_only_linkings_queue_ever_receives_a_date_of_birth(school_push):
    _, token = school_push.school()
    school_push.push(token, [student("S1", date_of_birth="2014-12-25",
                                     email="ann.student@example.org"),
                             guardian("G1", "g@example.org", ["S1"])])
    wait_for(school_push.drained, message="published")
    holders = set()
    for queue in topology.all_queues(school_push.settings):
        service, channel = queue.name[len(school_push.settings.queue_prefix):].split(".")
        if any("2014-12-25" in json.dumps(e) for e in school_push.queue(service, channel)):
            holders.add(queue.name)
    assert holders == {f"{school_push.settings.queue_prefix}linking.data"}


def test_after_publishing_ingest_keeps_no_names_emails_or_birth_dates(school_push):
    _, token = school_push.school()
    school_push.push(token, [student("S1", given_name="Zebedee", family_name="Quixote",
                                     date_of_birth="2013-07-19", email="zq@example.org"),
                             guardian("G1", "parent.zq@example.org", ["S1"]),
                             student("S2", date_of_birth="2011-02-30")])  # rejected too
    wait_for(school_push.drained, message="published")
    needles = ("Zebedee", "Quixote", "2013-07-19", "zq@example.org", "parent.zq",
               "2011-02-30")
    found = []
    with school_push.ingest.engine.connect() as conn:
        for table in INGEST.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)).mappings():
                text = json.dumps(dict(row), default=str)
                found += [f"{table.name}:{n}" for n in needles if n in text]
    assert found == []


def test_a_reference_to_a_record_not_seen_yet_is_kept_not_dropped(school_push):
    _, token = school_push.school()
    early = school_push.push(token, [attainment("A1", "LATE")])  # its student comes later
    assert early.json["accepted"] == 1
    school_push.push(token, [student("LATE")])
    (grade,) = school_push.events("reports", "AttainmentRecorded")
    (recorded,) = school_push.events("reports", "StudentRecorded")
    assert grade["data"]["student_id"] == recorded["data"]["student_id"]


def test_limits_answer_which_limit(school_push):
    from services.ingest.schemas import MAX_BATCH_BYTES, MAX_EVENTS_PER_BATCH
    _, token = school_push.school()
    too_many = school_push.push(token, [student("S")] * (MAX_EVENTS_PER_BATCH + 1))
    assert too_many.status_code == 422 and "events" in too_many.json["error"]["fields"]
    too_big = school_push.client.post(
        "/api/v1/school-data/batches", data=b'{"batch_id": "b", "events": ["' +
        b"x" * MAX_BATCH_BYTES + b'"]}', content_type="application/json",
        headers={"Authorization": f"Bearer {token}"})
    assert too_big.status_code == 413 and too_big.json["error"]["code"] == "payload_too_large"
    long_name = school_push.push(token, [student("S1", given_name="x" * 101)])
    assert long_name.json["rejected"][0]["error"].startswith("data.given_name:")


def test_a_push_after_an_erasure_is_a_new_record_and_old_ids_stay_erased(school_push):
    school, token = school_push.school()
    school_push.push(token, [student("S1")])
    (recorded,) = school_push.events("reports", "StudentRecorded")
    old_id = recorded["data"]["student_id"]
    with school_push.ingest.context.sessions() as session, session.begin():
        from shared.rights.participant import Subject
        school_push.ingest.context.participant.erase(session, Subject(
            school_id=school, type="student", id=old_id))
    again = school_push.push(token, [student("S1", given_name="Back"),
                                     attainment("A9", "S1")])
    assert again.json["accepted"] == 2  # the school's new instruction
    (back,) = [e for e in school_push.events("reports", "StudentRecorded")
               if e["data"]["given_name"] == "Back"]
    (grade,) = school_push.events("reports", "AttainmentRecorded")
    assert back["data"]["student_id"] != old_id == recorded["data"]["student_id"]
    assert grade["data"]["student_id"] == back["data"]["student_id"]


def test_a_batchs_rejections_are_read_in_welsh_and_pushed_in_english(school_push):
    """Issue 29: the reasons are stored as written, in English, and the push's answer stays
    English (a school system reads it); the batch read with Accept-Language: cy gives each
    reason in Welsh, the fields named as sent; without one, in English."""
    _, token = school_push.school()
    events = [student("S1", date_of_birth="2015-02-30", nickname="Annie"),
              {"type": "student.exploded", "source_id": "S2", "data": {}},
              student("S3", year_group=17), "not an event"]
    pushed = school_push.client.post("/api/v1/school-data/batches", json={
        "batch_id": "welsh-1", "events": events},
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "cy"})
    assert pushed.status_code == 202 and pushed.json["accepted"] == 0
    english = {r["index"]: r["error"] for r in pushed.json["rejected"]}
    assert english[0] == (
        "data.date_of_birth: Not a real date (no such day, or not written as YYYY-MM-DD): "
        "expected year-month-day as YYYY-MM-DD, for example 2015-03-02.; "
        "data.nickname: Unknown field.")
    auth = {"Authorization": f"Bearer {token}"}
    read = school_push.client.get("/api/v1/school-data/batches/welsh-1",
                                  headers={**auth, "Accept-Language": "cy, en;q=0.5"})
    assert read.status_code == 200
    welsh = {r["index"]: r["error"] for r in read.json["rejected"]}
    assert welsh[0] == (
        "data.date_of_birth: Nid yw'n ddyddiad go iawn (nid oes diwrnod o'r fath, neu nid yw "
        "wedi'i ysgrifennu fel BBBB-MM-DD): disgwylir blwyddyn-mis-diwrnod fel BBBB-MM-DD, "
        "er enghraifft 2015-03-02.; data.nickname: Maes anhysbys.")
    assert welsh[1].startswith("type: Math anhysbys; un o attainment.recorded")
    assert welsh[2] == ("data.year_group: Grŵp blwyddyn o 0 (Derbyn) i 13 (Blwyddyn 13); "
                        "gadewch ef allan os nad yw'n hysbys.")
    assert welsh[3] == "event: Rhaid iddo fod yn wrthrych gyda type, source_id a data."
    assert [r["source_id"] for r in read.json["rejected"]] == ["S1", "S2", "S3", None]
    plain = school_push.client.get("/api/v1/school-data/batches/welsh-1", headers=auth)
    assert {r["index"]: r["error"] for r in plain.json["rejected"]} == english
