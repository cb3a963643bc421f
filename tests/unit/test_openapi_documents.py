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


def test_every_success_answer_says_its_body(doc):
    """A success answer other than 204 declares its body's media type and schema (JSON,
    the export's application/zip, a receipt's application/jose); a 204 has none."""
    silent = []
    for label, op in operations(doc):
        for status, answer in op["responses"].items():
            if not status.startswith("2"):
                continue
            content = answer.get("content", {})
            if (status == "204") == bool(content) or not all(
                    media.get("schema") for media in content.values()):
                silent.append(f"{label} {status}")
    assert not silent, f"success answers silent on their body: {silent}"


def test_the_checks_catch_an_operation_silent_on_security_or_success():
    """The checks themselves: an operation without either is caught."""
    broken = {"components": {"securitySchemes": {BEARER_SCHEME: {"scheme": "bearer"}}},
              "paths": {"/x": {"post": {"responses": {"default": {}}}}}}
    with pytest.raises(AssertionError, match="silent on security"):
        test_every_operation_declares_its_security(broken)
    with pytest.raises(AssertionError, match="without a documented success"):
        test_every_operation_documents_a_success_answer(broken)
    broken["paths"]["/x"]["post"]["responses"]["202"] = {"description": "Accepted"}
    with pytest.raises(AssertionError, match="silent on their body.*POST /x 202"):
        test_every_success_answer_says_its_body(broken)


def test_every_operation_has_an_id_a_one_line_summary_and_a_description(doc):
    """What a generated client names the call (unique in the document), a summary of one
    line (the docstring's first paragraph) and a description (the rest)."""
    ids = [op.get("operationId") for _label, op in operations(doc)]
    assert None not in ids, [label for label, op in operations(doc) if "operationId" not in op]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    bad = [label for label, op in operations(doc)
           if "\n" in op.get("summary", "\n") or len(op["summary"]) > 80
           or not op.get("description", "").strip()]
    assert not bad, f"operations without a one-line summary and a description: {bad}"


def answer_of(doc, answer):
    """A response, its `$ref` to a response component followed."""
    ref = answer.get("$ref", "")
    return doc["components"]["responses"][ref.rsplit("/", 1)[1]] if ref else answer


def test_every_operation_documents_the_errors_of_its_kind(doc):
    """A token-guarded operation answers 401 (no, a revoked or an expired token; staff
    without the second factor) and, for some roles only, 404 to the others
    (shared/auth.require); one taking a body 400 (not JSON, too deep), 413 (too large)
    and 422 (invalid): each documented, each with the one error schema."""
    missing = []
    for label, op in operations(doc):
        wanted = set()
        if op["security"]:
            wanted.add("401")
        if op.get("x-roles"):
            wanted.add("404")
        if "requestBody" in op:
            wanted |= {"400", "413", "422"}
        missing += [f"{label} {status}" for status in sorted(wanted - set(op["responses"]))]
    assert not missing, f"undocumented errors: {missing}"


def test_the_error_checks_catch_an_operation_silent_on_its_errors():
    broken = {"paths": {"/x": {"post": {
        "operationId": "x", "summary": "Two\nlines.", "security": [{BEARER_SCHEME: []}],
        "x-roles": ["operator"], "requestBody": {}, "responses": {"200": {}, "401": {}}}}}}
    with pytest.raises(AssertionError, match="400.*404.*413.*422"):
        test_every_operation_documents_the_errors_of_its_kind(broken)
    with pytest.raises(AssertionError, match="one-line summary"):
        test_every_operation_has_an_id_a_one_line_summary_and_a_description(broken)


def test_paging_is_only_after_and_next(doc):
    """No page-number `PaginationMetadata` (flask-smorest's): lists page by `after` and
    answer `next` (shared/pages.py)."""
    components = doc["components"]
    assert "PaginationMetadata" not in components.get("schemas", {})
    assert "PAGINATION" not in components.get("headers", {})
    assert "PaginationMetadata" not in str(doc)


def untyped_objects(doc):
    """Where a schema leaves an object free-form (no properties and no typed
    additionalProperties) or a value untyped (`{}`). apispec's nullable nested field
    (`anyOf: [{type: object, nullable: true}, {$ref}]`) says null or the referenced schema:
    typed."""
    found = []

    def walk(node, where, in_any_of=False):
        if isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{where}/{index}", in_any_of)
            return
        if not isinstance(node, dict):
            return
        if node == {}:
            found.append(where)
        elif node.get("type") == "object" and "properties" not in node:
            extra = node.get("additionalProperties", True)
            if extra in (True, {}) and not (in_any_of and node.get("nullable")):
                found.append(where)
        for key, value in node.items():
            if key in ("properties",):  # names, each a schema
                for name, prop in value.items():
                    walk(prop, f"{where}/{name}")
            elif key in ("additionalProperties", "items", "oneOf", "anyOf", "allOf"):
                walk(value, f"{where}/{key}", key == "anyOf")
    for name, schema in doc["components"]["schemas"].items():
        walk(schema, name)
    for label, op in operations(doc):  # schemas written in an operation itself
        bodies = [("request", op.get("requestBody", {}))] + list(op["responses"].items())
        for where, body in bodies:
            for media_type, media in body.get("content", {}).items():
                walk(media.get("schema", {"type": "string"}), f"{label} {where} {media_type}")
    return found


def test_every_schema_is_typed_all_the_way_down(doc):
    """Errors (`fields`, `rows`), a batch's rejections, OneRoster's `ignored` rows: no
    free-form object."""
    untyped = untyped_objects(doc)
    assert not untyped, f"untyped objects: {untyped}"


def test_the_one_error_schema_answers_every_error(doc):
    error = {"$ref": "#/components/schemas/Error"}
    for label, op in operations(doc):
        for status, answer in op["responses"].items():
            answer = answer_of(doc, answer)
            if status[0] in "45" or status == "default":
                assert answer["content"]["application/json"]["schema"] == error, (
                    label, status)
    detail = doc["components"]["schemas"]["ErrorDetail"]
    assert detail["additionalProperties"] is False  # every key it may hold, declared
    assert detail["properties"]["rows"]["items"] == {"$ref": "#/components/schemas/ErrorRow"}


def test_the_typing_check_catches_a_free_form_object():
    broken = {"components": {"schemas": {"A": {"type": "object", "properties": {
        "rows": {"type": "array", "items": {"type": "object", "additionalProperties": {}}},
        "any": {}}}}}, "paths": {"/x": {"get": {"responses": {"200": {"content": {
            "application/json": {"schema": {"type": "object"}}}}}}}}}
    assert untyped_objects(broken) == ["A/rows/items", "A/rows/items/additionalProperties",
                                       "A/any", "GET /x 200 application/json"]


# The services whose schemas are described field by field so far (issue 28 is done service
# by service: a service joins when each of its properties has its description).
DESCRIBED = ("identity", "ingest", "linking", "notifications", "dsar", "reports")


def undescribed_properties(doc):
    return [f"{name}.{prop}" for name, schema in doc["components"]["schemas"].items()
            for prop, value in schema.get("properties", {}).items()
            if not value.get("description")]


def answer_schemas(doc):
    """The components a success answer's body refers to (directly)."""
    names = set()
    for _label, op in operations(doc):
        for status, answer in op["responses"].items():
            for media in answer.get("content", {}).values() if status[0] == "2" else ():
                ref = media.get("schema", {}).get("$ref", "")
                if ref:
                    names.add(ref.rsplit("/", 1)[1])
    return names


@pytest.mark.parametrize("name", DESCRIBED)
def test_every_property_is_described_and_answers_say_what_is_always_there(name):
    """From the marshmallow fields' metadata (written once); `required` on the fields an
    answer always holds, so a generated client does not make them all optional."""
    doc = document(name)
    missing = undescribed_properties(doc)
    assert not missing, f"properties without a description: {missing}"
    silent = sorted(n for n in answer_schemas(doc)
                    if not doc["components"]["schemas"][n].get("required"))
    assert not silent, f"answers that declare no required field: {silent}"


def test_the_description_check_catches_a_silent_property():
    broken = {"components": {"schemas": {"A": {"type": "object", "properties": {
        "said": {"type": "string", "description": "Said."}, "silent": {"type": "string"}}}}}}
    assert undescribed_properties(broken) == ["A.silent"]


# Each service's main operations (issue 28): an example of the request each takes (when it
# takes a body) and of its success answer, e.g. for an integrator's first call.
MAIN_OPERATIONS = {
    "identity": ("issueToken", "activateAccount", "getMe", "createSchool", "inviteStaff",
                 "createClient"),
    "ingest": ("pushBatch", "getOneRosterJob"),
    "linking": ("listLinks", "verifyLink"),
    "reports": ("publishPeriod", "listStudentReports", "getReport"),
    "notifications": ("getPreferences", "putPreferences"),
    "dsar": ("fileRequest", "getRequest"),
}


def examples_of(doc):
    """(where, example, schema) of every example in the document's requests and answers."""
    for label, op in operations(doc):
        bodies = [("request", op.get("requestBody", {}))] + [
            (status, answer) for status, answer in op["responses"].items()]
        for where, body in bodies:
            for media_type, media in body.get("content", {}).items():
                if "example" in media:
                    yield f"{label} {where} {media_type}", media["example"], media["schema"]


def test_the_main_operations_have_examples():
    missing = []
    for name, main in MAIN_OPERATIONS.items():
        doc = document(name)
        by_id = {op["operationId"]: (label, op) for label, op in operations(doc)}
        for operation_id in main:
            label, op = by_id[operation_id]
            found = {where.split(" ")[2] for where, _e, _s in examples_of(
                {"paths": {"/": {label.split(" ")[0].lower(): op}}})}
            if "requestBody" in op and "request" not in found:
                missing.append(f"{name} {operation_id} request")
            if not any(status.startswith("2") for status in found):
                missing.append(f"{name} {operation_id} answer")
    assert not missing, f"main operations without examples: {missing}"


def test_every_example_fits_its_schema(doc):
    """An example a generated client or a validator would refuse misleads: each is checked
    against its schema (openapi-schema-validator, OpenAPI 3.0's dialect)."""
    from openapi_schema_validator import OAS30Validator
    wrong = []
    for where, example, schema in examples_of(doc):
        validator = OAS30Validator({**schema, "components": doc["components"]})
        wrong += [f"{where}: {error.message}" for error in validator.iter_errors(example)]
    assert not wrong, wrong


def test_the_example_check_catches_a_wrong_example():
    broken = {"components": {"schemas": {"A": {"type": "object", "required": ["id"],
                                                "properties": {"id": {"type": "string"}}}}},
              "paths": {"/x": {"get": {"responses": {"200": {"content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/A"},
                                       "example": {"id": 7}}}}}}}}}
    with pytest.raises(AssertionError, match="GET /x 200 application/json: 7 is not"):
        test_every_example_fits_its_schema(broken)


def _resolved(doc, node):
    """A `$ref` of the document's components, followed; anything else as it is."""
    while isinstance(node, dict) and "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = doc["components"][kind][name]
    return node


def test_every_operation_takes_accept_language_and_answers_content_language(doc):
    """Every operation honours Accept-Language (cy or en; errors come back in Welsh) and
    every answer, success or error, says its language in Content-Language (issue 28)."""
    silent = []
    for name, op in operations(doc):
        headers = {p.get("name") for p in (_resolved(doc, p) for p in op.get("parameters", []))
                   if p.get("in") == "header"}
        if "Accept-Language" not in headers:
            silent.append(f"{name}: no Accept-Language")
        for status, answer in op["responses"].items():
            said = _resolved(doc, answer).get("headers", {}).get("Content-Language")
            if _resolved(doc, said or {}).get("schema", {}).get("enum") != ["cy", "en"]:
                silent.append(f"{name} {status}: no Content-Language")
    assert not silent, silent


def test_an_answer_says_the_language_it_was_asked_for():
    """What the documents say is what the services do: a success answer says
    Content-Language too (an error's says it as it is translated)."""
    import importlib
    import tempfile
    from dataclasses import replace
    from pathlib import Path

    from shared.config import Settings
    from shared.service import ServiceRuntime
    with tempfile.TemporaryDirectory(prefix="pp-language-") as data_dir:
        settings = replace(Settings(), data_dir=Path(data_dir), database_urls={
            "identity": "postgresql+psycopg://nobody@127.0.0.1:9/none"})
        runtime = ServiceRuntime(importlib.import_module("services.identity.app").SPEC,
                                 settings)
        try:
            client = runtime.create_app().test_client()
            for asked, said in (("cy", "cy"), ("cy-GB,en;q=0.5", "cy"), (None, "en")):
                headers = {"Accept-Language": asked} if asked else {}
                document = client.get("/openapi/identity/openapi.json", headers=headers)
                assert document.status_code == 200
                assert document.headers["Content-Language"] == said, asked
                refused = client.get("/api/v1/me", headers=headers)  # no token: 401
                assert refused.status_code == 401
                assert refused.headers["Content-Language"] == said, asked
        finally:
            runtime.engine.dispose()
