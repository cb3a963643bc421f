"""The AsyncAPI document: in step with the contracts, well formed, and true to real events."""
from __future__ import annotations

import copy
import datetime as dt
import json
import re
import uuid
from pathlib import Path

import jsonschema
import pytest
from flask import Flask
from marshmallow import Schema, fields

from shared import asyncapi, contracts
from shared.config import RIGHTS_PARTICIPANTS
from shared.messaging import topology
from shared.messaging.envelope import new_envelope

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"
REGENERATE = "run `python -m shared.asyncapi --write docs/asyncapi.json` and commit the result"


@pytest.fixture(scope="module")
def doc() -> dict:
    return asyncapi.document()


def _uuid() -> str:
    return str(uuid.uuid4())


# (a) ----------------------------------------------------------------------------------
def test_committed_document_is_current(doc):
    assert DOC_PATH.exists(), f"docs/asyncapi.json is missing: {REGENERATE}"
    assert json.loads(DOC_PATH.read_text(encoding="utf-8")) == doc, (
        f"docs/asyncapi.json no longer matches the contracts: {REGENERATE}")


def test_document_is_deterministic():
    assert json.dumps(asyncapi.document()) == json.dumps(asyncapi.document())


def test_cli_writes_the_document(tmp_path):
    target = tmp_path / "asyncapi.json"
    assert asyncapi.main(["--write", str(target)]) == 0
    assert json.loads(target.read_text(encoding="utf-8")) == asyncapi.document()


# (b) ----------------------------------------------------------------------------------
@pytest.mark.parametrize("contract", contracts.CONTRACTS, ids=asyncapi.message_name)
def test_every_contract_has_its_message_route_and_services(doc, contract):
    name = asyncapi.message_name(contract)
    message = doc["components"]["messages"][name]
    consumers = list(topology.consumers_of(contract))
    assert message["x-producer"] == contract.producer
    assert message["x-consumers"] == consumers
    assert message["x-channel"] == contract.channel
    assert message["x-version"] == contract.version

    channel = doc["channels"][contract.type]
    assert channel["messages"][name] == {"$ref": f"#/components/messages/{name}"}
    assert channel["bindings"]["amqp"]["exchange"] == {
        "name": "pp.events", "type": "topic", "durable": True, "autoDelete": False,
        "vhost": "/"}
    if contract.producer == contracts.ANY_PRODUCER:
        producers = list(RIGHTS_PARTICIPANTS)
        assert channel["parameters"]["service"]["enum"] == producers
        for service in producers:  # the address names the answering service
            key = channel["address"].replace("{service}", service)
            assert key == contract.routing_key(service)
    else:
        producers = [contract.producer]
        assert channel["address"] == contract.routing_key() == contract.binding_key
    assert message["x-routing-key"] == channel["address"]
    assert message["x-producers"] == producers

    ref = {"$ref": f"#/channels/{contract.type}/messages/{name}"}
    for service in producers:
        op = doc["operations"][f"{service}.publish.{contract.type}"]
        assert op["action"] == "send" and ref in op["messages"]
    for service in consumers:
        op = doc["operations"][f"{service}.receive.{contract.type}"]
        assert op["action"] == "receive" and ref in op["messages"]
        assert op["x-queue"] == f"{service}.{contract.channel}"
        # The queue really is bound to this channel's key.
        assert contract in topology.subscriptions(service)[contract.channel]


def test_operations_are_exactly_the_producers_and_consumers(doc):
    expected = set()
    for contract in contracts.CONTRACTS:
        expected |= {f"{s}.publish.{contract.type}" for s in asyncapi.producers(contract)}
        expected |= {f"{s}.receive.{contract.type}" for s in topology.consumers_of(contract)}
    assert set(doc["operations"]) == expected
    assert len(doc["components"]["messages"]) == len(contracts.CONTRACTS)


# (c) ----------------------------------------------------------------------------------
def _names(schema_class: type[Schema]) -> tuple[list[str], list[str]]:
    declared = schema_class().fields.items()
    names = [f.data_key or n for n, f in declared]
    return names, [f.data_key or n for n, f in declared if f.required]


@pytest.mark.parametrize("contract", contracts.CONTRACTS, ids=asyncapi.message_name)
def test_data_schema_has_the_contract_fields(doc, contract):
    payload = doc["components"]["messages"][asyncapi.message_name(contract)]["payload"]
    names, required = _names(contract.schema)
    assert list(payload["properties"]["data"]["properties"]) == names
    assert payload["properties"]["data"].get("required", []) == required
    envelope_names, envelope_required = _names(contracts.EnvelopeSchema)
    assert list(payload["properties"]) == envelope_names
    assert payload["required"] == envelope_required
    jsonschema.Draft7Validator.check_schema(payload)


def test_unknown_field_types_fail_loudly():
    class Odd(Schema):
        amount = fields.Decimal()

    with pytest.raises(TypeError, match="Decimal"):
        asyncapi.object_schema(Odd)


# (d) ----------------------------------------------------------------------------------
# No maintained PyPI package ships the official AsyncAPI 3.0 JSON Schema, so this checks the
# parts of the spec the generator uses, plus the cross-references jsonschema cannot see.
_KEY = r"^[\w.\-]+$"
_REF = {"type": "object", "required": ["$ref"], "additionalProperties": False,
        "properties": {"$ref": {"type": "string"}}}
_EXT = {"^x-[\\w.\\-]+$": {}}
_AMQP_CHANNEL = {
    "type": "object", "required": ["is", "exchange", "bindingVersion"],
    "additionalProperties": False,
    "properties": {
        "is": {"enum": ["routingKey", "queue"]}, "bindingVersion": {"const": "0.3.0"},
        "exchange": {"type": "object", "additionalProperties": False,
                     "required": ["name", "type"],
                     "properties": {"name": {"type": "string", "maxLength": 255},
                                    "type": {"enum": ["topic", "direct", "fanout", "default",
                                                      "headers"]},
                                    "durable": {"type": "boolean"},
                                    "autoDelete": {"type": "boolean"},
                                    "vhost": {"type": "string"}}}}}
_CHANNEL = {
    "type": "object", "required": ["address", "messages"], "additionalProperties": False,
    "patternProperties": _EXT,
    "properties": {
        "address": {"type": "string"}, "title": {"type": "string"},
        "messages": {"type": "object", "additionalProperties": False,
                     "patternProperties": {_KEY: _REF}},
        "parameters": {"type": "object", "additionalProperties": False, "patternProperties": {
            _KEY: {"type": "object", "additionalProperties": False,
                   "properties": {"description": {"type": "string"},
                                  "enum": {"type": "array", "items": {"type": "string"}}}}}},
        "bindings": {"type": "object", "properties": {"amqp": _AMQP_CHANNEL}}}}
_OPERATION = {
    "type": "object", "required": ["action", "channel"], "additionalProperties": False,
    "patternProperties": _EXT,
    "properties": {
        "action": {"enum": ["send", "receive"]}, "channel": _REF,
        "summary": {"type": "string"}, "messages": {"type": "array", "items": _REF},
        "bindings": {"type": "object", "properties": {"amqp": {
            "type": "object", "additionalProperties": False,
            "properties": {"deliveryMode": {"enum": [1, 2]},
                           "bindingVersion": {"const": "0.3.0"}}}}}}}
_MESSAGE = {
    "type": "object", "required": ["name", "payload"], "additionalProperties": False,
    "patternProperties": _EXT,
    "properties": {
        "name": {"type": "string"}, "title": {"type": "string"},
        "summary": {"type": "string"},
        "description": {"type": "string"}, "contentType": {"type": "string"},
        "payload": {"type": "object"},
        "examples": {"type": "array", "items": {  # AsyncAPI 3.1's Message Example Object
            "type": "object", "required": ["payload"], "additionalProperties": False,
            "properties": {"name": {"type": "string"}, "summary": {"type": "string"},
                           "payload": {}}}},
        "bindings": {"type": "object", "properties": {"amqp": {
            "type": "object", "additionalProperties": False,
            "properties": {"contentEncoding": {"type": "string"},
                           "bindingVersion": {"const": "0.3.0"}}}}}}}
ASYNCAPI_SUBSET = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object", "required": ["asyncapi", "info"], "additionalProperties": False,
    "properties": {
        "asyncapi": {"const": "3.1.0"},
        "info": {"type": "object", "required": ["title", "version"],
                 "properties": {"title": {"type": "string"}, "version": {"type": "string"},
                                "description": {"type": "string"}}},
        "defaultContentType": {"type": "string"},
        "servers": {"type": "object", "patternProperties": {_KEY: {
            "type": "object", "required": ["host", "protocol"],
            "properties": {"host": {"type": "string"}, "protocol": {"const": "amqp"},
                           "protocolVersion": {"type": "string"}}}}},
        "channels": {"type": "object", "additionalProperties": False,
                     "patternProperties": {_KEY: _CHANNEL}},
        "operations": {"type": "object", "additionalProperties": False,
                       "patternProperties": {_KEY: _OPERATION}},
        "components": {"type": "object", "additionalProperties": False, "properties": {
            "messages": {"type": "object", "additionalProperties": False,
                         "patternProperties": {_KEY: _MESSAGE}}}}}}


def _resolve(doc: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        node = node[part]  # a KeyError names a dangling reference
    return node


def test_document_matches_the_asyncapi_subset(doc):
    jsonschema.Draft7Validator(ASYNCAPI_SUBSET).validate(doc)


def test_references_resolve_and_stay_within_their_channel(doc):
    for channel in doc["channels"].values():
        for message in channel["messages"].values():
            _resolve(doc, message["$ref"])
        # Every {parameter} in an address is declared, and nothing else is.
        assert set(re.findall(r"{(\w+)}", channel["address"])) == set(
            channel.get("parameters", {}))
    for op_id, op in doc["operations"].items():
        channel_ref = op["channel"]["$ref"]
        _resolve(doc, channel_ref)
        assert op["messages"], op_id
        for message in op["messages"]:  # the spec: an operation's messages are its channel's
            assert message["$ref"].startswith(channel_ref + "/messages/"), op_id
            _resolve(doc, message["$ref"])


def test_the_subset_rejects_a_broken_document(doc):
    broken = copy.deepcopy(doc)
    first = next(iter(broken["operations"].values()))
    first["action"] = "publish"  # AsyncAPI 2 wording
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(ASYNCAPI_SUBSET).validate(broken)


# (e) ----------------------------------------------------------------------------------
SCHOOL = _uuid()
SAMPLES = [
    ("StudentRecorded", "ingest", {"record_version": 3, "student_id": _uuid(),
                                   "given_name": "Ada", "family_name": "Lovelace"}),
    ("StudentBirthDateRecorded", "ingest", {"record_version": 1, "student_id": _uuid(),
                                            "date_of_birth": dt.date(2012, 2, 29)}),
    ("GuardianStudentsRecorded", "ingest", {
        "record_version": 0, "guardian_id": _uuid(),
        "students": [{"student_id": _uuid(), "relationship": "mother",
                      "receives_reports": True}]}),
    ("AttainmentRecorded", "ingest", {
        "record_version": 2, "attainment_id": _uuid(), "student_id": _uuid(),
        "class_id": _uuid(), "period": "Autumn", "kind": "mark", "value": "17",
        "out_of": 20.0, "topic": None}),
    ("InvitationIssued", "identity", {
        "invitation_id": _uuid(), "account_id": _uuid(), "role": "guardian",
        "name": "Grace Hopper", "email": "grace@example.org", "token": "a" * 32,
        "expires_at": dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)}),
    ("ErasureRequested", "dsar", {
        "subject": {"school_id": SCHOOL, "type": "student", "id": _uuid()},
        "subject_request_id": _uuid()}),
    ("SubjectIdRequested", "dsar", {"request_id": _uuid(), "subject_type": "staff",
                                    "source_id": None, "subject_id": _uuid()}),
    ("SubjectDataExported", "reports", {
        "request_id": _uuid(), "service": "reports", "outcome": "done", "reason": None,
        "counts": {"reports": 2}, "tables": {"reports": [{"id": 1, "title": "Autumn"}]}}),
]


def _payload_schema(doc: dict, envelope: dict) -> dict:
    name = f"{envelope['type']}.v{envelope['version']}"
    return doc["components"]["messages"][name]["payload"]


def _validate(schema: dict, instance: dict) -> None:
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        instance)


@pytest.mark.parametrize(("event_type", "producer", "data"), SAMPLES,
                         ids=[s[0] for s in SAMPLES])
def test_real_events_validate_against_their_message(doc, event_type, producer, data):
    envelope = json.loads(new_envelope(event_type, data, producer=producer,
                                       school_id=SCHOOL).to_json())
    _validate(_payload_schema(doc, envelope), envelope)


@pytest.mark.parametrize(("path", "value"), [
    (("data", "kind"), "bogus"),            # enum
    (("data", "student_id"), "not-a-uuid"),  # format
    (("data", "period"), "x" * 101),        # SafeString max_length
    (("data", "record_version"), -1),       # Range
    (("producer",), "reports"),             # not this event's producer
    (("version",), 2),                      # not this message's version
])
def test_schemas_reject_what_contracts_reject(doc, path, value):
    envelope = json.loads(new_envelope("AttainmentRecorded", SAMPLES[3][2], producer="ingest",
                                       school_id=SCHOOL).to_json())
    target = envelope
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        _validate(_payload_schema(doc, {"type": "AttainmentRecorded", "version": 1}), envelope)


def test_missing_required_data_field_is_rejected(doc):
    envelope = json.loads(new_envelope("StudentRecorded", SAMPLES[0][2], producer="ingest",
                                       school_id=SCHOOL).to_json())
    del envelope["data"]["family_name"]
    with pytest.raises(jsonschema.ValidationError):
        _validate(_payload_schema(doc, envelope), envelope)


# the blueprint ------------------------------------------------------------------------
def test_blueprint_serves_the_document(doc):
    app = Flask("asyncapi-test")
    app.register_blueprint(asyncapi.asyncapi_blueprint())
    response = app.test_client().get("/asyncapi/asyncapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == doc


@pytest.mark.parametrize("contract", contracts.CONTRACTS, ids=asyncapi.message_name)
def test_every_message_has_a_summary_a_description_and_an_example(doc, contract):
    """For consumers (issue 28): what the event says in one line and in full, and a payload
    it accepts (made up, built from its schema)."""
    message = doc["components"]["messages"][asyncapi.message_name(contract)]
    assert message["summary"].strip() and "\n" not in message["summary"]
    assert message["description"].strip()
    (example,) = message["examples"]
    assert example["name"] and example["summary"]
    jsonschema.validate(example["payload"], message["payload"])
    assert example["payload"]["type"] == contract.type


def test_the_example_is_what_the_contract_accepts(doc):
    """The example passes the contract's own schema too, not only the document's."""
    for contract in contracts.CONTRACTS:
        payload = doc["components"]["messages"][asyncapi.message_name(contract)][
            "examples"][0]["payload"]
        assert contract.schema().validate(payload["data"]) == {}, contract.type
