"""A request's receipt: one JWS signed by dsar whose payload lists every service's own
signed answer (each a JWS under that service's key) and the audit trail's entries for the
request with the chain's head. Verifying needs only the published keys (each service's
JWKS, kept as that service's: a signature counts for a service only under a key of its
own key set):

    python -m shared.receipts verify receipt.jws --keys dsar=dsar.json --keys ...

Everything in it is ids, counts and instants: no personal data."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import jws
from .keys import ANSWER_TYPE, service_of

RECEIPT_TYPE = "pp-rights-receipt+jws"
GENESIS = "0" * 64  # the `prev` of the audit trail's first entry
ENTRY_FIELDS = ("seq", "request_id", "at", "step", "service", "actor")


class InvalidReceipt(ValueError):
    """The receipt does not prove what it says; the message says why (no personal data)."""


def entry_hash(prev: str, entry: Mapping[str, Any]) -> str:
    """An audit entry's hash: SHA-256 of the previous entry's hash and the entry's fields
    (canonical JSON), so an edit or a removal anywhere breaks every later link."""
    body = {"prev": prev, **{name: entry.get(name) for name in ENTRY_FIELDS}}
    return hashlib.sha256(jws.canonical_json(body)).hexdigest()


@dataclass(frozen=True)
class Verified:
    request: dict[str, Any]
    answers: dict[str, dict[str, Any]]  # service -> its signed answer's payload
    audit_head: dict[str, Any]


KeySets = Mapping[str, Mapping[str, Ed25519PublicKey]]  # service -> its own keys by kid


def verify_receipt(text: str, keys: KeySets) -> Verified:
    """Every signature, every expected service's answer, and the audit entries' links.
    `keys`: each service's own key set (jws.service_keys); dsar's signs the receipt, and
    each service's answer verifies only under that service's set."""
    token = text[:-1] if text.endswith("\n") else text
    try:
        header, receipt = jws.verify(token, keys.get("dsar", {}), RECEIPT_TYPE)
    except jws.InvalidJws as exc:
        raise InvalidReceipt(f"the receipt: {exc}") from None
    if service_of(str(header["kid"])) != "dsar":
        raise InvalidReceipt("the receipt is not signed by a dsar key")
    request = receipt.get("request")
    services = receipt.get("services")
    answers = receipt.get("answers")
    if not isinstance(request, dict) or not isinstance(services, list) \
            or not isinstance(answers, dict) or not services:
        raise InvalidReceipt("the receipt lacks its request, services or answers")
    checked = {service: _answer(service, answers.get(service), request, keys)
               for service in services}
    extra = set(answers) - set(services)
    if extra:
        raise InvalidReceipt(f"answers from services the request was not sent to: "
                             f"{sorted(extra)}")
    return Verified(request, checked, _audit(receipt.get("audit"), str(request.get("id"))))


def _signed_answer(service: str, token: Any, keys: KeySets) -> dict[str, Any]:
    """The answer's payload, signed under one of the service's own published keys (never
    another service's, whatever its kid says)."""
    if not isinstance(token, str):
        raise InvalidReceipt(f"{service} has no signed answer in the receipt")
    if service not in keys:
        raise InvalidReceipt(f"{service}'s answer: no key set of {service} was given")
    try:
        if service_of(str(jws.unverified(token)[0].get("kid"))) != service:
            raise InvalidReceipt(f"{service}'s answer is signed by another service's key")
        _, answer = jws.verify(token, keys[service], ANSWER_TYPE)
    except jws.InvalidJws as exc:
        raise InvalidReceipt(f"{service}'s answer: {exc}") from None
    return answer


def _answer(service: str, token: Any, request: Mapping[str, Any],
            keys: KeySets) -> dict[str, Any]:
    answer = _signed_answer(service, token, keys)
    if answer.get("service") != service:
        raise InvalidReceipt(f"{service}'s answer is signed by another service's key")
    if answer.get("request_event") not in (request.get("events") or ()):
        raise InvalidReceipt(f"{service}'s answer answers another request")
    if answer.get("school_id") != request.get("school_id") \
            or answer.get("subject") != request.get("subject"):
        raise InvalidReceipt(f"{service}'s answer is about another school or subject")
    if answer.get("outcome") != "done":
        raise InvalidReceipt(f"{service} did not complete the request")
    return answer


def _audit(audit: Any, request_id: str) -> dict[str, Any]:
    if not isinstance(audit, dict) or not isinstance(audit.get("entries"), list) \
            or not isinstance(audit.get("head"), dict):
        raise InvalidReceipt("the receipt lacks its audit trail")
    last = None
    for entry in audit["entries"]:
        if not isinstance(entry, dict) or entry.get("request_id") != request_id:
            raise InvalidReceipt("an audit entry of another request")
        if entry_hash(str(entry.get("prev")), entry) != entry.get("hash"):
            raise InvalidReceipt(f"audit entry {entry.get('seq')} does not match its hash")
        last = entry
    head = audit["head"]
    if last is None or (head.get("seq"), head.get("hash")) != (last["seq"], last["hash"]):
        raise InvalidReceipt("the audit head is not the request's last entry")
    return dict(head)
