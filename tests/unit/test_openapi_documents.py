"""Every service's OpenAPI document passes a validator written by others
(openapi-spec-validator, a test dependency), and says of every operation how to call it
and what it answers when it succeeds (issue 28). The generated clients' journey:
tests/integration/test_generated_clients_real.py."""
import pytest
from openapi_spec_validator import validate

from shared.auth import BEARER_SCHEME
from tests.openapi_documents import SERVICES, document

METHODS = ("get", "put", "post", "delete", "patch")


def operations(doc):
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


@pytest.fixture(scope="module", params=SERVICES)
def doc(request):
    return document(request.param)


def test_the_document_is_valid_openapi(doc):
    validate(doc)  # raises on the first error


def test_every_operation_declares_its_security(doc):
    """The bearer JWT scheme with the roles allowed (`x-roles`), or `security: []` for
    the few public operations (shared/auth.py's require and public)."""
    assert doc["components"]["securitySchemes"][BEARER_SCHEME]["scheme"] == "bearer"
    silent = [label for label, op in operations(doc) if "security" not in op]
    assert not silent, f"operations silent on security: {silent}"
    for label, op in operations(doc):
        if op["security"]:
            assert op["security"] == [{BEARER_SCHEME: []}], label


def test_every_operation_documents_a_success_answer(doc):
    missing = [label for label, op in operations(doc)
               if not any(status.startswith("2") for status in op["responses"])]
    assert not missing, f"operations without a documented success answer: {missing}"


def test_the_checks_catch_an_operation_silent_on_security_or_success():
    """The checks themselves: an operation without either is caught."""
    broken = {"components": {"securitySchemes": {BEARER_SCHEME: {"scheme": "bearer"}}},
              "paths": {"/x": {"post": {"responses": {"default": {}}}}}}
    with pytest.raises(AssertionError, match="silent on security"):
        test_every_operation_declares_its_security(broken)
    with pytest.raises(AssertionError, match="without a documented success"):
        test_every_operation_documents_a_success_answer(broken)
