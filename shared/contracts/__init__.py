"""Event contracts: the envelope and one versioned schema per integration event.

Producers validate before writing to their outbox; consumers validate on receipt.
Nothing here knows about brokers or databases.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError

from .base import (ANY_PRODUCER, DATA, EVERY_PARTICIPANT, EVERY_SERVICE, RIGHTS, SECRET,
                   SUBJECT_TYPES, Contract, snake)
from .envelope import EnvelopeSchema, load_plain_envelope
from .events import CONTRACTS
from .fastload import Unsure, fast_path

__all__ = ["ANY_PRODUCER", "CONTRACTS", "DATA", "EVERY_PARTICIPANT", "EVERY_SERVICE", "RIGHTS",
           "SECRET", "SECRET_TYPES", "SUBJECT_TYPES", "Contract", "ContractError", "EnvelopeSchema",
           "contract_for", "latest", "secret_fields", "secrets_blanked", "snake",
           "validate_data", "validate_envelope", "without_secrets"]

_BY_KEY: dict[tuple[str, int], Contract] = {(c.type, c.version): c for c in CONTRACTS}
assert len(_BY_KEY) == len(CONTRACTS), "duplicate contract"


class ContractError(ValueError):
    """An event that does not match its contract; the message says why (no values)."""

    event_id: str | None = None  # known when the envelope itself was valid
    event_type: str | None = None


def contract_for(event_type: str, version: int) -> Contract:
    try:
        return _BY_KEY[(event_type, version)]
    except KeyError:
        raise ContractError(f"unknown event type/version {event_type} v{version}") from None


def latest(event_type: str) -> Contract:
    versions = [c for c in CONTRACTS if c.type == event_type]
    if not versions:
        raise ContractError(f"unknown event type {event_type}")
    return max(versions, key=lambda c: c.version)


def _reason(err: ValidationError) -> str:
    # Field names only: messages from our fields never echo the rejected value.
    return "; ".join(f"{k}: {v}" for k, v in sorted(_flatten(err.messages).items()))


def _flatten(messages: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            out.update(_flatten(value, f"{prefix}{key}."))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out[prefix.rstrip(".")] = " ".join(messages)
    else:
        for i, value in enumerate(messages):
            out.update(_flatten(value, f"{prefix}{i}."))
    return out


@functools.lru_cache(maxsize=None)
def _schema(schema_class: type[Schema]) -> Schema:
    # One instance per schema: building one costs more than the load itself, and a
    # marshmallow schema keeps no state between loads.
    return schema_class()


def validate_envelope(raw: dict[str, Any]) -> dict[str, Any]:
    plain = load_plain_envelope(raw)
    if plain is not None:
        return plain
    try:
        loaded: dict[str, Any] = _schema(EnvelopeSchema).load(raw)
        return loaded
    except ValidationError as err:
        raise ContractError(f"envelope invalid: {_reason(err)}") from None


@functools.lru_cache(maxsize=None)
def _quick(schema_class: type[Schema]) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    return fast_path(_schema(schema_class))


def validate_data(event_type: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
    contract = contract_for(event_type, version)
    quick = _quick(contract.schema)
    if quick is not None:  # the plain form producers write: checked without marshmallow
        try:
            return quick(data)
        except Unsure:
            pass  # the schema decides, and says why
    try:
        loaded: dict[str, Any] = _schema(contract.schema).load(data)
        return loaded
    except ValidationError as err:
        raise ContractError(f"{event_type} v{version} invalid: {_reason(err)}") from None


# --- secrets ----------------------------------------------------------------------------
def _secret_names(contract: Contract) -> set[str]:
    names = set()
    for name, field in contract.schema._declared_fields.items():
        if field.metadata.get("secret"):
            names.add(field.data_key or name)
    return names


_SECRETS: dict[str, tuple[str, ...]] = {}
for _contract in CONTRACTS:
    _names = set(_SECRETS.get(_contract.type, ())) | _secret_names(_contract)
    if _names:
        _SECRETS[_contract.type] = tuple(sorted(_names))

# The event types that carry a secret (in any version).
SECRET_TYPES = frozenset(_SECRETS)


def secret_fields(event_type: str) -> tuple[str, ...]:
    """The data fields of an event type (any of its versions) declared secret
    (`metadata=SECRET`); secrets are fields of `data` itself, never nested deeper."""
    return _SECRETS.get(event_type, ())


def _envelopes(parsed: Any) -> list[dict[str, Any]]:
    if isinstance(parsed, dict):
        return [parsed]
    if isinstance(parsed, list):
        return [e for e in parsed if isinstance(e, dict)]
    return []


def without_secrets(body: str) -> str:
    """A message body (one envelope, or a relay's packed array of them) with the value of
    every secret field set to null. A body holding no secret is returned as it is; one
    that is not JSON is no event of ours, and cannot hold one of our secrets by name."""
    if not any(t in body for t in SECRET_TYPES):  # most bodies: no parse at all
        return body
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return body
    changed = False
    for envelope in _envelopes(parsed):
        data, event_type = envelope.get("data"), envelope.get("type")
        if not isinstance(data, dict) or not isinstance(event_type, str):
            continue
        for name in secret_fields(event_type):
            if data.get(name) is not None:
                data[name] = None
                changed = True
    return json.dumps(parsed, separators=(",", ":"), sort_keys=True) if changed else body


def secrets_blanked(body: str | None) -> bool:
    """Whether a stored body lost a secret to without_secrets (it can never be applied)."""
    if not body or not any(t in body for t in SECRET_TYPES):
        return False
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return False
    for envelope in _envelopes(parsed):
        data = envelope.get("data")
        if isinstance(data, dict) and any(
                name in data and data[name] is None
                for name in secret_fields(str(envelope.get("type")))):
            return True
    return False
