"""Several real services in one test process, on real PostgreSQL and RabbitMQ: each with its
own database, consumers and relay on threads, and every service trusting identity's keys
(as embedded mode does). The test drives them through their HTTP APIs."""
from __future__ import annotations

import importlib
import threading
import time
import uuid
from dataclasses import replace

from shared.service import ServiceRuntime
from shared.worker import run_threads
from shared.messaging.envelope import new_envelope
from tests import second_factor
from tests.support import EventTap, publish_events, wait_for

OPERATOR = ("ops@example.org", "operator-secret-1")
ANSWERS = {"ErasureRequested": "ErasureCompleted", "AccessRequested": "SubjectDataExported",
           "ProcessingRestricted": "RestrictionApplied",
           "RestrictionLifted": "RestrictionApplied"}


class RealSystem:
    def __init__(self, settings, tmp_path, new_database, names: list[str],
                 overrides: dict[str, dict] | None = None):
        """`overrides`: per service, settings of its own (its broker URL through a proxy,
        its database on a server the test restarts)."""
        names = ["identity", *[n for n in names if n != "identity"]]
        self.settings = replace(
            settings, data_dir=tmp_path, bootstrap_operator_email=OPERATOR[0],
            bootstrap_operator_password=OPERATOR[1],
            database_urls={**settings.database_urls,
                           **{name: new_database(name) for name in names}})
        self.tap = EventTap(self.settings, "#")  # every event, for the test to wait on
        self.runtimes: dict[str, ServiceRuntime] = {}
        for name in names:
            spec = importlib.import_module(f"services.{name}.app").SPEC
            own = dict((overrides or {}).get(name, {}))
            if "database_url" in own:
                own["database_urls"] = {**self.settings.database_urls,
                                        name: own.pop("database_url")}
            runtime = ServiceRuntime(spec, replace(self.settings, **own))
            runtime.start()
            self.runtimes[name] = runtime
        verifier = self.runtimes["identity"].verifier
        self.clients = {}
        for name, runtime in self.runtimes.items():
            runtime.verifier = verifier
            self.clients[name] = runtime.create_app().test_client()
        self.stops: dict[str, threading.Event] = {}
        self.threads: dict[str, list[threading.Thread]] = {}
        for name in self.runtimes:
            self.start_service(name)
        self.operator = self.token(*OPERATOR)

    def start_service(self, name: str) -> None:
        """Start (or restart) one service's worker: consumers, relay and loops."""
        runtime = self.runtimes[name]
        self.stops[name] = stop = threading.Event()
        self.threads[name] = run_threads(runtime.build_workers(), stop)
        wait_for(lambda: all(w.connected.is_set() for w in runtime.queue_workers),
                 message=f"{name} consumers connected")

    def stop_service(self, name: str) -> None:
        """Stop one service's worker, as if its process were down (its queues keep what
        arrives meanwhile)."""
        self.stops[name].set()
        for thread in self.threads.pop(name, []):
            thread.join(timeout=15)

    def close(self) -> None:
        for name in list(self.threads):
            self.stop_service(name)
        self.tap.close()
        for runtime in self.runtimes.values():
            runtime.engine.dispose()

    # --- HTTP -----------------------------------------------------------------------------
    def call(self, service: str, method: str, path: str, token: str | None = None,
             json=None, query=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return getattr(self.clients[service], method)(path, json=json, headers=headers,
                                                      query_string=query)

    def upload_roster(self, token: str, data: bytes, query: dict | None = None,
                      timeout: float = 240):
        """POST a OneRoster bundle; a 202's job polled until it ends (applied, refused or
        failed). (the POST's response, the job as it ended, or None without a 202)."""
        response = self.clients["ingest"].post(
            "/api/v1/school-data/oneroster", data=data, content_type="application/zip",
            headers={"Authorization": f"Bearer {token}"}, query_string=query)
        if response.status_code != 202:
            return response, None
        url = response.json["status_url"]

        def ended():
            job = self.call("ingest", "get", url, token).json
            return job if job["status"] in ("applied", "refused", "failed") else None
        return response, wait_for(ended, timeout=timeout, message="the OneRoster job ended")

    def token(self, email: str, password: str) -> str:
        """A password sign-in's access token; a staff or operator one has passed the
        second factor (tests/second_factor.py)."""
        response = self.call("identity", "post", "/api/v1/auth/token", json={
            "grant_type": "password", "email": email, "password": password})
        assert response.status_code == 200, response.json
        return second_factor.complete(second_factor.flask_post(self.clients["identity"]),
                                      response.json)["access_token"]

    def school(self, name: str = "Hill School") -> tuple[str, str]:
        """A new school and its school system's token."""
        school = self.call("identity", "post", "/api/v1/schools", self.operator,
                           {"name": name}).json["id"]
        client = self.call("identity", "post", f"/api/v1/schools/{school}/clients",
                           self.operator).json
        response = self.call("identity", "post", "/api/v1/auth/token", json={
            "grant_type": "client_credentials", **client})
        return school, response.json["access_token"]

    def push(self, system_token: str, events: list[dict]) -> dict:
        """One batch; beyond the school's pace (429), the same batch after Retry-After, as
        a school system does."""
        batch = {"batch_id": uuid.uuid4().hex, "events": events}
        response = self.call("ingest", "post", "/api/v1/school-data/batches", system_token,
                             batch)
        while response.status_code == 429:
            time.sleep(int(response.headers["Retry-After"]))
            response = self.call("ingest", "post", "/api/v1/school-data/batches",
                                 system_token, batch)
        assert response.status_code == 202 and not response.json["rejected"], response.json
        return response.json

    def activate(self, email: str, password: str = "a-parent-password-1",
                 records: int = 0, language: str | None = None) -> str:
        """Accept the invitation sent to this email; returns the account's access token.
        `records`: accept only an invitation naming at least this many of the school's
        guardian and student records. Identity invites once per record it applies, so
        an email on two records gets a first invitation naming one; accepted while the
        second record is being applied, it leaves that one pending (a new invitation).
        `language`: the one chosen on the activation page (issue 29), if any."""
        tried: set[str] = set()

        def wanted(data: dict) -> bool:
            return (data["email"] == email
                    and len(data["guardian_ids"]) + len(data["student_ids"]) >= records)

        def activated() -> bool:
            # A resend (or a second record with the same email) replaces the token: take
            # the newest one seen so far.
            self.tap.wait("InvitationIssued", wanted)
            tokens = [e["data"]["token"] for e in self.tap.seen
                      if e["type"] == "InvitationIssued" and wanted(e["data"])]
            token = tokens[-1]
            if token in tried:
                return False
            tried.add(token)
            chosen = {"language": language} if language else {}
            return self.call("identity", "post", "/api/v1/auth/activate", json={
                "token": token, "password": password, **chosen}).status_code == 200
        wait_for(activated, message=f"invitation of {email} accepted")
        return self.token(email, password)

    def rights_request(self, event_type: str, school: str, subject_type: str,
                       subject_id: str, service: str) -> dict:
        """Publish a rights request as dsar would (ErasureRequested, …) and return the
        named service's answer, once it arrives."""
        request = new_envelope(event_type, {
            "subject": {"school_id": school, "type": subject_type, "id": subject_id},
            "subject_request_id": str(uuid.uuid4())}, producer="dsar", school_id=school)
        publish_events(self.settings, request)
        return self.tap.wait(ANSWERS[event_type], lambda d: d["request_id"] == request.id
                             and d["service"] == service)

    def admin(self, school: str, email: str) -> str:
        self.call("identity", "post", f"/api/v1/schools/{school}/staff", self.operator,
                  {"name": "School Admin", "email": email, "role": "school_admin"})
        return self.activate(email, "an-admin-password-1")

    def completed_erasure(self, students: list[dict]) -> tuple[str, str]:
        """A school with these students pushed, whose admin files the erasure of the first
        (by its source id) and waits for it to complete: (the request's id, the admin's
        token). The receipts' and the audit witness's tests start here (issue 30)."""
        school, system_token = self.school()
        self.push(system_token, students)
        first = students[0]
        self.tap.wait("StudentRecorded",
                      lambda d: d["given_name"] == first["data"]["given_name"])
        admin = self.admin(school, "admin@example.org")
        filed = self.call("dsar", "post", "/api/v1/subject-requests", admin, {
            "kind": "erasure", "subject": {"type": "student",
                                           "source_id": first["source_id"]}})
        assert filed.status_code == 201, filed.json
        request_id = filed.json["id"]
        wait_for(lambda: self.call("dsar", "get", f"/api/v1/subject-requests/{request_id}",
                                   admin).json["status"] == "completed",
                 timeout=90, message="the erasure completed")
        return request_id, admin


# Pushed school data, as a school system sends it (API.md "School data push").
def student(source: str, date_of_birth: str = "2015-03-02", **over) -> dict:
    data = {"given_name": "Ann", "family_name": "Smith", "date_of_birth": date_of_birth,
            "form_group": "7A", "year_group": 7, **over}
    return {"type": "student.upserted", "source_id": source, "data": data}


def guardian(source: str, email: str, children: dict[str, bool]) -> dict:
    """`children`: student source id -> receives_reports."""
    return {"type": "guardian.upserted", "source_id": source, "data": {
        "given_name": "Pat", "family_name": "Smith", "email": email,
        "students": [{"student_id": s, "relationship": "parent", "receives_reports": r}
                     for s, r in children.items()]}}
