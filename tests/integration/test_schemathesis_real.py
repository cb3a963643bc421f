"""Schemathesis against each service's own OpenAPI document (issue "Hardening").

Each service runs in-process (its Flask app over WSGI) on a real PostgreSQL database of its
own and the real broker settings (so /readyz answers ready; events wait in the outbox, no
worker runs). Every operation gets generated requests, positive (valid per the document)
and negative (invalid per the document), each sent with a valid bearer token of a role the
operation allows (read off its @require), and every answer is checked:

- not_a_server_error: no 5xx, whatever the input;
- status_code_conformance and content_type_conformance: the answer is documented (every
  operation documents a `default` error response, so the first holds for any status as
  long as that stays documented; the second catches e.g. an empty text/html 204);
- response_schema_conformance: the body matches its documented schema, errors included
  (the documents' `Error` is the {"error": {"code", "message", "fields"?}} shape);
- negative_data_rejection: a request the document calls invalid gets a 4xx (413 and 423
  count as rejections too: body limit, locked link).

Excluded, on purpose:
- positive_data_acceptance: generated ids name nothing that exists and tokens belong to no
  real account, so a valid request is rightly 404/409/422 (e.g. "not your school"), and a
  document cannot express every rule (SafeString refuses control characters).
- missing_required_header, ignored_auth, unsupported_method, use_after_free,
  ensure_resource_availability: auth is a bearer token added here (schemathesis makes
  none from the documents' bearer scheme) and the documents declare no header
  parameters, and the stateful checks need links between operations that the documents
  do not declare.

PP_FUZZ_EXAMPLES (default 15) bounds the examples per operation and mode; generation is
derandomized (the same cases every run), so a larger PP_FUZZ_EXAMPLES explores further.
Failures of every operation are gathered and reported together (no shrinking).
"""
from __future__ import annotations

import functools
import importlib
import os
import re
import uuid
from collections import Counter
from dataclasses import replace

import pytest
import schemathesis
import schemathesis.checks as st_checks
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from shared.auth import TokenSigner, TokenVerifier, key_id
from shared.service import ServiceRuntime

pytestmark = pytest.mark.integration

SERVICES = ("identity", "ingest", "linking", "reports", "notifications", "dsar")
EXAMPLES = int(os.environ.get("PP_FUZZ_EXAMPLES", "15"))
OPERATOR = ("fuzz-operator@example.org", "fuzz-operator-secret-1")
SCHOOL = str(uuid.uuid4())

CHECKS = [st_checks.not_a_server_error, st_checks.status_code_conformance,
          st_checks.content_type_conformance, st_checks.response_schema_conformance,
          st_checks.negative_data_rejection]
# The bearer tokens are this test's (a role the operation allows): schemathesis generates
# no Authorization header of its own from the documents' security scheme.
CONFIG = schemathesis.Config.from_dict({
    "generation": {"with-security-parameters": False},
    "checks": {"negative_data_rejection": {
        "expected-statuses": ["400", "401", "403", "404", "405", "406", "409", "413", "415",
                              "422", "423", "428", "429"]}}})


# The batch push checks each event on its own: an invalid event is rejected by its index
# in the 202 (API.md "School data push"), not the batch; the document types the events
# (a oneOf by type), so a generated invalid event is no invalid request to refuse.
ITEM_BY_ITEM = {"POST /api/v1/school-data/batches"}


# A OneRoster bundle goes as raw bytes (generated ones are not zips: refused, never a 5xx).
schemathesis.serializer.alias("application/zip", "application/octet-stream")


def allowed_roles(view) -> tuple[str, ...] | None:
    """The roles of the view's @require (shared/auth.py), None when it has none."""
    while view is not None:
        code = getattr(view, "__code__", None)
        if (code is not None and code.co_filename.endswith(os.path.join("shared", "auth.py"))
                and "roles" in code.co_freevars):
            return view.__closure__[code.co_freevars.index("roles")].cell_contents
        view = getattr(view, "__wrapped__", None)
    return None


def view_for(app, method: str, path: str):
    """The Flask view serving an OpenAPI path such as /api/v1/links/{link_id}/verify."""
    for rule in app.url_map.iter_rules():
        if method.upper() in rule.methods and re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}",
                                                     rule.rule) == path:
            return app.view_functions[rule.endpoint]
    raise AssertionError(f"no Flask rule serves {method} {path}")


class Service:
    def __init__(self, name, settings, tmp_path, database_url):
        self.name = name
        settings = replace(settings, data_dir=tmp_path,
                           database_urls={**settings.database_urls, name: database_url},
                           bootstrap_operator_email=OPERATOR[0],
                           bootstrap_operator_password=OPERATOR[1])
        self.rt = ServiceRuntime(importlib.import_module(f"services.{name}.app").SPEC,
                                 settings)
        self.rt.start()
        self.signer = None
        if name != "identity":  # identity verifies from its own key ring: real sign-in
            key = Ed25519PrivateKey.generate()
            self.rt.verifier = TokenVerifier(lambda: {key_id(key.public_key()):
                                                      key.public_key()})
            self.signer = TokenSigner(key)
        self.app = self.rt.create_app()
        self.client = self.app.test_client()
        self.operator_token = None
        if name == "identity":
            response = self.client.post("/api/v1/auth/token", json={
                "grant_type": "password", "email": OPERATOR[0], "password": OPERATOR[1]})
            assert response.status_code == 200, response.json
            self.operator_token = response.json["access_token"]

    def tokens_for(self, roles: tuple[str, ...]) -> list[str]:
        if self.name == "identity":
            if "operator" in roles:  # the operator may call most protected identity operations
                return [self.operator_token]
            # The rest (the school's people, for its admin): a token from identity's own ring.
            signer = self.rt.context.use_cases.identity.keys.signer()
            return [signer.issue(str(uuid.uuid4()), role, [SCHOOL]) for role in roles]
        # Tokens for one school; made once (a fresh account id each would add nothing).
        return [self.signer.issue(str(uuid.uuid4()), role, [SCHOOL]) for role in roles]


@pytest.fixture
def make_service(new_database, broker_settings, tmp_path):
    made = []

    def make(name):
        service = Service(name, broker_settings, tmp_path / name, new_database(name))
        made.append(service)
        return service
    yield make
    for service in made:
        service.rt.engine.dispose()


def fuzz(service: Service, operation, mode: GenerationMode,
         statuses: Counter | None = None) -> str | None:
    """Run one operation in one mode; the failure report, or None. `statuses` counts the
    answers by (operation, status)."""
    roles = allowed_roles(view_for(service.app, operation.method, operation.path))
    tokens = service.tokens_for(roles) if roles else [None]
    checks = CHECKS if operation.label not in ITEM_BY_ITEM else [
        check for check in CHECKS if check is not st_checks.negative_data_rejection]

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate],  # no shrinking: report as found
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), token=st.sampled_from(tokens))
    def run(case, token):
        headers = {"Authorization": f"Bearer {token}"} if token else None
        response = case.call(headers=headers)
        if statuses is not None:
            statuses[operation.label, response.status_code] += 1
        case.validate_response(response, checks=checks, headers=headers)

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.NEGATIVE:  # no parameters or body: nothing to make invalid
            return None
        raise
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup: the latter
        return f"--- {operation.label} [{mode.value}]\n{str(exc)[:4000]}"
    return None


@pytest.mark.parametrize("name", SERVICES)
def test_openapi_document_holds_under_generated_requests(name, make_service):
    service = make_service(name)
    ready = service.client.get("/readyz")
    assert ready.status_code == 200, ready.json  # real database and broker
    schema = schemathesis.openapi.from_wsgi(f"/openapi/{name}/openapi.json", service.app,
                                            config=CONFIG)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the document lists no operation"
    statuses: Counter = Counter()
    failures = [report for operation in operations
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
                if (report := fuzz(service, operation, mode, statuses))]
    print(f"{name}: answers by operation and status", dict(sorted(statuses.items())))
    assert not failures, "\n\n".join(failures)
    # The tokens work: no operation answered only 401, so the requests reached the views.
    for operation in operations:
        answers = {status for (label, status) in statuses if label == operation.label}
        assert answers and answers != {401}, (operation.label, answers)
    assert any(200 <= status < 300 for _, status in statuses), statuses


def test_the_checks_catch_a_broken_answer(make_service):
    """The harness itself: an answer off its document, or a 5xx, fails the run."""
    service = make_service("notifications")
    view = service.app.view_functions["notification-preferences.get_preferences"]
    schema = schemathesis.openapi.from_wsgi("/openapi/notifications/openapi.json",
                                            service.app, config=CONFIG)
    operation = schema["/api/v1/notification-preferences"]["GET"]

    @functools.wraps(view)  # keeps @require's roles visible
    def off_document(*args, **kwargs):
        return {"report_emails": "yes, please"}  # a string where a boolean is documented
    service.app.view_functions["notification-preferences.get_preferences"] = off_document
    report = fuzz(service, operation, GenerationMode.POSITIVE)
    assert report is not None and "schema" in report.lower(), report

    def crash(*args, **kwargs):
        raise RuntimeError("boom")
    service.app.view_functions["notification-preferences.get_preferences"] = crash
    report = fuzz(service, operation, GenerationMode.POSITIVE)
    assert report is not None and "500" in report, report

    # A body the document calls invalid, taken anyway.
    put = schema["/api/v1/notification-preferences"]["PUT"]
    endpoint = "notification-preferences.put_preferences"
    taking = service.app.view_functions[endpoint]

    @functools.wraps(taking)
    def takes_anything(*args, **kwargs):
        return {"report_emails": True}
    service.app.view_functions[endpoint] = takes_anything
    report = fuzz(service, put, GenerationMode.NEGATIVE)
    assert report is not None and "accepted" in report.lower(), report
