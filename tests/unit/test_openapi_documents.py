"""Every service's OpenAPI document passes a validator written by others
(openapi-spec-validator, a test dependency; issue 28)."""
import pytest
from openapi_spec_validator import validate

from tests.openapi_documents import SERVICES, document


@pytest.mark.parametrize("name", SERVICES)
def test_the_document_is_valid_openapi(name):
    validate(document(name))  # raises on the first error
