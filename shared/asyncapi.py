"""The AsyncAPI 3.1 description of every integration event, generated from the contracts.

Integrators read it at GET /asyncapi/asyncapi.json or in docs/asyncapi.json. It is derived,
never edited: a unit test fails when the contracts change and the file was not regenerated
with `python -m shared.asyncapi --write docs/asyncapi.json`.
"""
from __future__ import annotations

import argparse
import functools
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

from flask import Blueprint, Response
from marshmallow import Schema, fields, missing, validate

from shared import contracts
from shared.config import RIGHTS_PARTICIPANTS, Settings
from shared.contracts.fields import SafeString, UuidString
from shared.messaging import topology

AMQP_BINDING_VERSION = "0.3.0"
JsonSchema = dict[str, Any]  # a JSON document's object, as json.dumps takes it
# Defaults, not the environment: the document must read the same on every machine.
_SETTINGS = Settings()

DESCRIPTION = """\
Every integration event of Pupil Progress. Each message travels as one JSON envelope
(`id`, `type`, `version`, `occurred_at`, `producer`, `school_id`, `correlation_id`, `data`)
published to the durable topic exchange `{exchange}` with routing key
`<producer>.<event_snake>` and AMQP `message_id` = envelope `id`. A relay may pack
several envelopes of one routing key into one message, a JSON array of them (`message_id`
= the first one's `id`): a consumer takes each envelope of the array as its own event.

Delivery is at least once: consumers deduplicate by envelope `id`. Readers are tolerant:
fields a consumer does not know are ignored, so a version only ever gains optional fields;
any other change is a new version (a new message here). Rights answers are published by
every rights participant, which names itself in the routing key (`{{service}}`)."""


# --- marshmallow field -> JSON Schema ---------------------------------------------------
def object_schema(schema_class: type[Schema]) -> JsonSchema:
    """A marshmallow schema as a JSON Schema object (fields in declaration order)."""
    properties: JsonSchema = {}
    required: list[str] = []
    for name, field in schema_class().fields.items():
        key = field.data_key or name
        properties[key] = field_schema(field)
        if field.required:
            required.append(key)
    out: JsonSchema = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    # No additionalProperties=false: unknown fields are ignored (Meta.unknown = EXCLUDE).
    return out


# Most specific classes first: StrictDate is a Date is a DateTime, UuidString a String.
_SCALARS = ((fields.Email, "string", "email"), (UuidString, "string", "uuid"),
            (fields.Date, "string", "date"), (fields.DateTime, "string", "date-time"),
            (fields.String, "string", None), (fields.Boolean, "boolean", None),
            (fields.Integer, "integer", None), (fields.Float, "number", None))


def _base_schema(field: fields.Field) -> JsonSchema:
    if isinstance(field, fields.Nested):
        nested = object_schema(type(field.schema))
        return {"type": "array", "items": nested} if field.many else nested
    if isinstance(field, fields.List):
        return {"type": "array", "items": field_schema(field.inner)}
    if isinstance(field, fields.Dict):
        out: JsonSchema = {"type": "object"}
        if field.key_field is not None and type(field.key_field) is not fields.String:
            out["propertyNames"] = field_schema(field.key_field)
        if field.value_field is not None:
            out["additionalProperties"] = field_schema(field.value_field)
        return out
    scalar = _scalar_schema(field)
    if scalar is not None:
        return scalar
    if type(field) is fields.Raw:
        return {}
    # Failing loudly keeps a new field type from being documented as "anything".
    raise TypeError(f"no JSON Schema for {type(field).__name__}: teach shared/asyncapi.py")


def _scalar_schema(field: fields.Field) -> JsonSchema | None:
    for cls, json_type, fmt in _SCALARS:
        if isinstance(field, cls):
            out: JsonSchema = {"type": json_type}
            if fmt:
                out["format"] = fmt
            if isinstance(field, SafeString):  # SafeEmail gets its format from validate.Email
                out["maxLength"] = field.max_length
            return out
    return None


def field_schema(field: fields.Field) -> JsonSchema:
    out = _base_schema(field)
    for validator in field.validators:
        out.update(_validator_schema(validator))
    if field.allow_none and "type" in out:
        out["type"] = [out["type"], "null"]
        out.get("enum", []).append(None)  # an enum lists every allowed value, null too
    if field.metadata.get("secret"):  # shared.contracts.SECRET
        out["x-secret"] = True
        out["description"] = ("A secret: blanked wherever the event is stored once it is "
                              "delivered (outbox, dead letters, exports).")
    # Callable defaults (list, dict) are fresh empties; only plain values say something.
    if field.load_default is not missing and not callable(field.load_default):
        out["default"] = field.load_default
    return out


def _validator_schema(validator: Any) -> JsonSchema:
    if isinstance(validator, validate.OneOf):
        return {"enum": list(validator.choices)}
    if isinstance(validator, validate.Regexp):
        return {"pattern": validator.regex.pattern}
    if isinstance(validator, validate.Email):
        return {"format": "email"}
    if isinstance(validator, validate.Range):
        out: JsonSchema = {}
        if validator.min is not None:
            out["minimum" if validator.min_inclusive else "exclusiveMinimum"] = validator.min
        if validator.max is not None:
            out["maximum" if validator.max_inclusive else "exclusiveMaximum"] = validator.max
        return out
    raise TypeError(f"no JSON Schema for validator {type(validator).__name__}")


# --- contracts -> AsyncAPI --------------------------------------------------------------
def producers(contract: contracts.Contract) -> tuple[str, ...]:
    any_ = contract.producer == contracts.ANY_PRODUCER
    return RIGHTS_PARTICIPANTS if any_ else (contract.producer,)


def routing_key(contract: contracts.Contract) -> str:
    """The channel address: a literal key, or `{service}.x` when every participant answers."""
    if contract.producer == contracts.ANY_PRODUCER:
        return "{service}." + contracts.snake(contract.type)
    return contract.routing_key()


def message_name(contract: contracts.Contract) -> str:
    return f"{contract.type}.v{contract.version}"


def payload_schema(contract: contracts.Contract) -> JsonSchema:
    """The envelope, pinned to this contract, with its data schema in `data`."""
    envelope = object_schema(contracts.EnvelopeSchema)
    props = envelope["properties"]
    props["type"]["const"] = contract.type
    props["version"]["const"] = contract.version
    props["producer"]["enum"] = list(producers(contract))
    props["data"] = object_schema(contract.schema)
    return envelope


# --- examples: one payload per message, built from its schema ----------------------------
_EXAMPLE_UUID = "3f0c6d2e-8b1a-4c55-9d7e-2a6f1b9c0e41"
_EXAMPLE_FORMATS = {"uuid": _EXAMPLE_UUID, "date": "2015-09-01",
                    "date-time": "2026-01-15T09:30:00Z", "email": "parent@example.org"}
# Strings a pattern asks for (a token's shape), tried in turn.
_PATTERNED = ("SchoolActivated", "identity",
              "c2lnbi1pbi10b2tlbi1leGFtcGxlLW9ubHk",
              "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJleGFtcGxlIn0." + "A" * 86,
              "0" * 63 + "1")  # a SHA-256 in hex (the audit chain's, issue 30)


def example_of(schema: JsonSchema, name: str = "") -> Any:
    """A value `schema` accepts, made up (no real person): for a message's example."""
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    kind = _non_null(schema.get("type"))
    if kind == "object":
        return _example_object(schema)
    if kind == "array":
        return [example_of(schema["items"], name)]
    if kind == "string":
        return _example_string(schema, name)
    return {"boolean": True, "integer": schema.get("minimum", 1),
            "number": schema.get("minimum", 1)}.get(kind or "")  # None: fields.Raw, any value


def _non_null(kind: str | list[str] | None) -> str | None:
    """A nullable field's type ([t, "null"]) as t."""
    return next(t for t in kind if t != "null") if isinstance(kind, list) else kind


def _example_object(schema: JsonSchema) -> JsonSchema:
    if "properties" in schema:
        return {key: example_of(value, key) for key, value in schema["properties"].items()}
    key = example_of(schema.get("propertyNames", {"type": "string"}), "key")
    return {key: example_of(schema.get("additionalProperties") or {"type": "string"})}


def _example_string(schema: JsonSchema, name: str) -> str:
    if "format" in schema:
        return _EXAMPLE_FORMATS[schema["format"]]
    if "pattern" in schema:
        pattern = re.compile(schema["pattern"])
        return next(text for text in _PATTERNED if pattern.fullmatch(text))
    return f"example {name}".strip()[:schema.get("maxLength", 100)]


def _summary(doc: str) -> str:
    """The docstring's first sentence (a message's one-line summary)."""
    first = " ".join(doc.split("\n\n")[0].split())
    return first.split(". ")[0].rstrip(".") + "."


def _message(contract: contracts.Contract) -> JsonSchema:
    # A class's own docstring only: Python does not inherit __doc__. Every contract has one
    # (tests/unit/test_asyncapi.py).
    doc = inspect.cleandoc(contract.schema.__doc__ or "")
    payload = payload_schema(contract)
    return {"name": message_name(contract), "title": f"{contract.type} v{contract.version}",
            "summary": _summary(doc), "description": doc, "contentType": "application/json",
            "payload": payload,
            "examples": [{"name": f"{contract.type}-example",
                          "summary": f"A {contract.type} envelope (made-up values).",
                          "payload": example_of(payload)}],
            "bindings": {"amqp": {"contentEncoding": "utf-8",
                                  "bindingVersion": AMQP_BINDING_VERSION}},
            "x-producer": contract.producer, "x-producers": list(producers(contract)),
            "x-consumers": list(topology.consumers_of(contract)),
            "x-channel": contract.channel, "x-version": contract.version,
            "x-routing-key": routing_key(contract)}


def _channel(versions: list[contracts.Contract]) -> JsonSchema:
    latest = versions[-1]
    channel: JsonSchema = {"address": routing_key(latest), "title": latest.type,
               "messages": {message_name(c): {"$ref": f"#/components/messages/{message_name(c)}"}
                            for c in versions}}
    if latest.producer == contracts.ANY_PRODUCER:
        channel["parameters"] = {"service": {
            "description": "The rights participant that answers.",
            "enum": list(RIGHTS_PARTICIPANTS)}}
    channel["bindings"] = {"amqp": {
        "is": "routingKey",
        "exchange": {"name": _SETTINGS.exchange, "type": "topic", "durable": True,
                     "autoDelete": False, "vhost": "/"},
        "bindingVersion": AMQP_BINDING_VERSION}}
    return channel


def _operations(by_type: dict[str, list[contracts.Contract]]) -> JsonSchema:
    """Per event type, a send per producer and a receive per consumer, each with its versions."""
    ops: dict[str, JsonSchema] = {}

    def add(op_id: str, action: str, service: str, contract: contracts.Contract,
            extra: JsonSchema) -> None:
        op = ops.setdefault(op_id, {
            "action": action, "channel": {"$ref": f"#/channels/{contract.type}"},
            "summary": f"{service} {'publishes' if action == 'send' else 'consumes'} "
                       f"{contract.type}",
            "messages": [], "x-service": service, **extra})
        op["messages"].append(
            {"$ref": f"#/channels/{contract.type}/messages/{message_name(contract)}"})

    for contract in (c for versions in by_type.values() for c in versions):
        for service in producers(contract):
            # Persistent delivery, as shared.messaging.publisher publishes.
            add(f"{service}.publish.{contract.type}", "send", service, contract, {"bindings": {
                "amqp": {"deliveryMode": 2, "bindingVersion": AMQP_BINDING_VERSION}}})
        for service in topology.consumers_of(contract):
            queue = topology.queue_name(_SETTINGS, service, contract.channel)
            add(f"{service}.receive.{contract.type}", "receive", service, contract,
                {"x-queue": queue})
    return ops


def document() -> JsonSchema:
    by_type: dict[str, list[contracts.Contract]] = {}
    for contract in contracts.CONTRACTS:  # catalogue order; each type's versions ascending
        by_type.setdefault(contract.type, []).append(contract)
    for versions in by_type.values():
        versions.sort(key=lambda c: c.version)
    return {
        "asyncapi": "3.1.0",
        "info": {"title": "Pupil Progress events", "version": "1",
                 "description": DESCRIPTION.format(exchange=_SETTINGS.exchange)},
        "defaultContentType": "application/json",
        "servers": {"production": {
            "host": "rabbitmq:5672", "protocol": "amqp", "protocolVersion": "0-9-1",
            "description": "The RabbitMQ broker of a deployment (PP_BROKER_URL)."}},
        "channels": {t: _channel(v) for t, v in by_type.items()},
        "operations": _operations(by_type),
        "components": {"messages": {message_name(c): _message(c)
                                    for versions in by_type.values() for c in versions}},
    }


@functools.lru_cache(maxsize=1)  # the contracts are fixed for the life of a process
def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def asyncapi_blueprint() -> Blueprint:
    """GET /asyncapi/asyncapi.json. A plain Flask blueprint: register it with
    app.register_blueprint (flask-smorest's Api.register_blueprint expects its own kind)."""
    blueprint = Blueprint("asyncapi", __name__, url_prefix="/asyncapi")

    @blueprint.get("/asyncapi.json")
    def asyncapi_json() -> Response:
        return Response(render(), mimetype="application/json")

    return blueprint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.asyncapi", description=__doc__)
    parser.add_argument("--write", metavar="PATH", type=Path,
                        help="write the document to PATH instead of printing it")
    args = parser.parse_args(argv)
    if args.write:
        args.write.write_text(render(), encoding="utf-8")
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
