"""A client generated from the OpenAPI documents runs the parent's journey (issue 28), on
real RabbitMQ and PostgreSQL: every service's document as the running service serves it
goes through openapi-python-client at test time, and the journey (the operator creates a
school and its client credentials, the school system pushes a batch, a parent activates,
confirms the date of birth, reads a report and files a request) is driven through the
generated clients alone, with no request written by hand. An operation the generator
cannot express, or an answer the document does not declare (the clients raise on an
undocumented status), fails the test. The invitation's token comes off the event stream,
standing in for the email; the waits for the events to arrive read the services' tables."""
import datetime
import importlib
import uuid

import httpx
import pytest
import sqlalchemy as sa

from shared.config import SERVICES
from tests import second_factor
from tests.openapi_documents import generate_client, served_document
from tests.support import wait_for
from tests.system import OPERATOR, RealSystem

pytestmark = pytest.mark.integration
PERIOD = "Autumn 2026"
BIRTHDAY = datetime.date(2015, 3, 2)


def json_bodies(doc: dict) -> dict:
    """The document with JSON as the one body of an operation that also takes a form of the
    same schema (the token endpoint, as OAuth clients send it): openapi-python-client
    0.29.1 writes such a pair as an unimportable union (`T | T | Unset`, `Unset` not
    imported); a generated client sends JSON anyway."""
    for path in doc["paths"].values():
        for operation in path.values():
            content = operation.get("requestBody", {}).get("content", {}) \
                if isinstance(operation, dict) else {}
            if "application/json" in content:
                for other in [t for t in content if t != "application/json"]:
                    if content[other].get("schema") == content["application/json"].get(
                            "schema"):
                        del content[other]
    return doc


class Generated:
    """The generated package of each service, its clients speaking to the running app."""

    def __init__(self, system: RealSystem, tmp_path):
        self.system = system
        self.packages = {name: generate_client(json_bodies(served_document(client, name)),
                                               name, tmp_path)
                         for name, client in system.clients.items()}

    def client(self, service: str, token: str | None = None):
        package = self.packages[service]
        args = {"base_url": "http://testserver", "raise_on_unexpected_status": True,
                "httpx_args": {"transport": httpx.WSGITransport(
                    app=self.system.clients[service].application)}}
        if token is None:
            return package.Client(**args)
        return package.AuthenticatedClient(token=token, **args)

    def second_factor_post(self, path: str, body: dict, token: str) -> dict:
        """tests/second_factor.py's `post`, through identity's generated operations."""
        operation, status, model = {
            "/api/v1/auth/second-factor/totp": ("enrol_totp", 201, None),
            "/api/v1/auth/second-factor/totp/confirm": ("confirm_totp", 200,
                                                        "SecondFactorCode"),
            "/api/v1/auth/second-factor": ("pass_second_factor", 200, "SecondFactorPass"),
        }[path]
        module = self.api("identity", f"auth.{operation}")
        kwargs = {"body": self.model("identity", model).from_dict(body)} if model else {}
        return answer(module.sync_detailed(client=self.client("identity", token), **kwargs),
                      status).to_dict()

    def api(self, service: str, module: str):
        """An operation's module: its tag and operationId, snake_cased (e.g.
        api("identity", "auth.issue_token"))."""
        return importlib.import_module(f"pp_{service}_client.api.{module}")

    def model(self, service: str, name: str):
        return getattr(importlib.import_module(f"pp_{service}_client.models"), name)


def answer(response, status: int):
    """The parsed body of an answer that must have this status."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    return response.parsed


def sign_in(g: Generated, email: str, password: str) -> str:
    TokenRequest = g.model("identity", "TokenRequest")
    Grant = g.model("identity", "TokenRequestGrantType")
    signed_in = answer(g.api("identity", "auth.issue_token").sync_detailed(
        client=g.client("identity"), body=TokenRequest(
            grant_type=Grant.PASSWORD, email=email, password=password)), 200)
    # Staff and operators pass the second factor (issue 25), through the generated client.
    return str(second_factor.complete(g.second_factor_post, signed_in.to_dict())[
        "access_token"])


def activate(g: Generated, email: str, password: str) -> str:
    """Accept the newest invitation sent to this email (a replaced one is refused: try
    the next), then sign in."""
    tried: set[str] = set()
    activate_op = g.api("identity", "auth.activate_account")
    ActivateRequest = g.model("identity", "ActivateRequest")

    def accepted() -> bool:
        g.system.tap.wait("InvitationIssued", lambda d: d["email"] == email)
        token = [e["data"]["token"] for e in g.system.tap.seen
                 if e["type"] == "InvitationIssued" and e["data"]["email"] == email][-1]
        if token in tried:
            return False
        tried.add(token)
        response = activate_op.sync_detailed(client=g.client("identity"), body=ActivateRequest(
            token=token, password=password))
        return response.status_code == 200
    wait_for(accepted, message=f"the invitation of {email} accepted")
    return sign_in(g, email, password)


def _count(system, service, sql, **params) -> int:
    with system.runtimes[service].engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


@pytest.fixture
def generated(broker_settings, tmp_path, new_database):
    system = RealSystem(broker_settings, tmp_path / "system", new_database, list(SERVICES))
    (tmp_path / "clients").mkdir()
    try:
        yield Generated(system, tmp_path / "clients")
    finally:
        system.close()


def test_a_generated_client_runs_the_parents_journey(generated):
    g = generated
    operator = sign_in(g, *OPERATOR)

    # The operator creates a school, its school system's credentials and its admin.
    school = answer(g.api("identity", "schools.create_school").sync_detailed(
        client=g.client("identity", operator),
        body=g.model("identity", "SchoolCreate")(name="Hill School")), 201)
    credentials = answer(g.api("identity", "schools.create_client")
                         .sync_detailed(school.id, client=g.client("identity", operator)), 201)
    admin_email = f"head-{uuid.uuid4().hex[:6]}@hill.example"
    answer(g.api("identity", "schools.invite_staff").sync_detailed(
        school.id, client=g.client("identity", operator),
        body=g.model("identity", "StaffInvite")(
            name="School Admin", email=admin_email,
            role=g.model("identity", "StaffInviteRole").SCHOOL_ADMIN)), 201)
    TokenRequest = g.model("identity", "TokenRequest")
    system_token = answer(g.api("identity", "auth.issue_token").sync_detailed(
        client=g.client("identity"), body=TokenRequest(
            grant_type=g.model("identity", "TokenRequestGrantType").CLIENT_CREDENTIALS,
            client_id=credentials.client_id, client_secret=credentials.client_secret)),
        200).access_token

    # The school system pushes a batch.
    parent_email = f"parent-{uuid.uuid4().hex[:6]}@home.example"
    events = [
        {"type": "student.upserted", "source_id": "S1", "data": {
            "given_name": "Ann", "family_name": "Smith",
            "date_of_birth": BIRTHDAY.isoformat(), "form_group": "7A", "year_group": 7}},
        {"type": "guardian.upserted", "source_id": "G1", "data": {
            "given_name": "Pat", "family_name": "Smith", "email": parent_email,
            "students": [{"student_id": "S1", "relationship": "parent",
                          "receives_reports": True}]}},
        {"type": "staff.upserted", "source_id": "T1", "data": {
            "title": "Ms", "given_name": "Jo", "family_name": "Khan"}},
        {"type": "class.upserted", "source_id": "C1", "data": {
            "name": "7A Maths", "subject": "Maths", "teacher_ids": ["T1"],
            "student_ids": ["S1"]}},
        {"type": "attainment.recorded", "source_id": "A1", "data": {
            "student_id": "S1", "class_id": "C1", "period": PERIOD, "kind": "mark",
            "value": "42", "out_of": 50}}]
    batch = g.model("ingest", "Batch").from_dict({"batch_id": uuid.uuid4().hex,
                                                  "events": events})  # typed by `type`
    assert [type(e).__name__ for e in batch.events] == [
        "StudentUpsertedEvent", "GuardianUpsertedEvent", "StaffUpsertedEvent",
        "ClassUpsertedEvent", "AttainmentRecordedEvent"]
    pushed = answer(g.api("ingest", "school_data.push_batch")
                    .sync_detailed(client=g.client("ingest", system_token), body=batch), 202)
    assert not pushed.rejected, pushed

    # The parent activates and confirms the child's date of birth.
    parent = activate(g, parent_email, "a-parent-password-1")
    links = g.api("linking", "links.list_links")
    link = wait_for(lambda: answer(links.sync_detailed(client=g.client("linking", parent)),
                                   200).items, timeout=120, interval=0.2,
                    message="the parent's link")[0]
    answer(g.api("linking", "links.verify_link").sync_detailed(
        link.id, client=g.client("linking", parent),
        body=g.model("linking", "VerifyRequest")(date_of_birth=BIRTHDAY)), 200)
    student_id = link.student.id

    # The school's admin publishes the period's reports once the marks and the verified
    # link have reached reports; the parent reads the report.
    admin = activate(g, admin_email, "an-admin-password-1")
    wait_for(lambda: _count(g.system, "reports", "SELECT count(*) FROM parent_access WHERE "
                            "student_id = :s AND verified", s=student_id)
             and _count(g.system, "reports", "SELECT count(*) FROM attainment WHERE "
                        "student_id = :s", s=student_id),
             timeout=120, interval=0.2, message="the verified link and the marks in reports")
    published = answer(g.api("reports", "reports.publish_period").sync_detailed(
        client=g.client("reports", admin), body=g.model("reports", "PublishRequest")(
            period=PERIOD, title="Autumn report")), 202)
    assert published.published == 1
    listed = answer(g.api("reports", "student_reports.list_student_reports")
                    .sync_detailed(student_id, client=g.client("reports", parent)), 200)
    report = answer(g.api("reports", "reports.get_report").sync_detailed(
        listed.items[0].id, client=g.client("reports", parent)), 200)
    assert report.subjects[0].attainment[0].value == "42"

    # The parent files a request for their child's data, and follows it.
    RequestIn = g.model("dsar", "RequestIn")
    filed = answer(g.api("dsar", "subject_requests.file_request")
                   .sync_detailed(client=g.client("dsar", parent), body=RequestIn(
                       kind=g.model("dsar", "RequestInKind").ACCESS,
                       subject=g.model("dsar", "SubjectIn")(
                           type_=g.model("dsar", "SubjectInType").STUDENT,
                           id=student_id))), 201)
    followed = answer(g.api("dsar", "subject_requests.get_request")
                      .sync_detailed(filed.id, client=g.client("dsar", parent)), 200)
    assert followed.id == filed.id and followed.kind == "access"
