"""The integration events of one batch, built as `new_envelope` builds them.

`new_envelope` checks each event against its contract with a marshmallow load, which is
most of the cost of a 5,000-event batch. Here each contract's check is compiled once
(fastload) and the envelope is built directly; anything the fast check is unsure of goes
through `new_envelope` itself, which refuses it with its own ContractError.

Results (AttainmentRecorded, CharacteristicRecorded) are checked one by one, then each
student's are gathered into ResultsRecorded events (`gather_results`).
"""
from __future__ import annotations

import datetime as dt
import functools
from typing import Any, NamedTuple

from shared import contracts
from shared.contracts import fastload
from shared.contracts.events import RESULTS_PER_EVENT
from shared.messaging.envelope import Envelope, correlation_id_var, new_envelope

from .ids import random_ids

PRODUCER = "ingest"


class EventBuilder:
    """Builds a batch's events: one moment and one correlation id for the whole batch."""

    def __init__(self, school_id: str):
        self.school_id = school_id
        self.event_ids = random_ids()
        self.occurred_at = dt.datetime.now(dt.timezone.utc)
        self.correlation_id = correlation_id_var.get()

    def build(self, event_type: str, data: dict[str, Any]) -> Envelope | _Checked:
        """The event, checked against its contract (raises ContractError); a result only
        checked, for gather_results.

        `data` must be JSON-ready (domain.translate writes dates as ISO strings): unlike
        new_envelope, nothing is converted, so anything else fails loudly when the outbox
        serialises it rather than going out in another form."""
        contract, check = _contract(event_type)
        if check is None or not _passes(check, data):
            return new_envelope(event_type, data, producer=PRODUCER,
                                school_id=self.school_id, occurred_at=self.occurred_at)
        if event_type in _RESULT_ITEMS:
            return _Checked(event_type, data)  # travels in a ResultsRecorded: no envelope
        return self._envelope(contract, data)

    def gather_results(self, envelopes: list[Envelope | _Checked]) -> list[Envelope]:
        """The batch's events with each student's results gathered into ResultsRecorded
        events of at most RESULTS_PER_EVENT items, each where the student's first result
        was (consumers take events in any order; record versions settle what is newer).
        The items were checked one by one as they were built."""
        gathered: list[Envelope | dict] = []
        open_groups: dict[str, dict] = {}
        for envelope in envelopes:
            key = _RESULT_ITEMS.get(envelope.type)
            if key is None:
                gathered.append(envelope)
                continue
            item = dict(envelope.data)
            student_id = item.pop("student_id")
            group = open_groups.get(student_id)
            if group is None or len(group["attainment"]) + len(
                    group["characteristics"]) == RESULTS_PER_EVENT:
                group = {"student_id": student_id, "attainment": [], "characteristics": []}
                open_groups[student_id] = group
                gathered.append(group)
            group[key].append(item)
        results, _check = _contract("ResultsRecorded")
        return [e if isinstance(e, Envelope) else self._envelope(results, e) for e in gathered]

    def _envelope(self, contract: contracts.Contract, data: dict[str, Any]) -> Envelope:
        event_id = next(self.event_ids)
        return Envelope(id=event_id, type=contract.type, version=contract.version,
                        occurred_at=self.occurred_at, producer=PRODUCER,
                        school_id=self.school_id,
                        correlation_id=self.correlation_id or event_id, data=data)


def in_turns(envelopes: list[Envelope], per_turn: int) -> list[Envelope]:
    """The batch's events in turns of `per_turn` of each type, each type in its own order.
    The relay sends outbox rows in the order they were written, and a push names the
    school's students before its guardians: written as pushed, a school's guardian events
    went out only once all its student events had (on a 2,000-student onboarding, 2 s
    later), and identity and notifications, the longest hops, waited for them. In turns a
    round of the relay carries every type, so each consumer starts at once. Events of
    different types may pass each other: consumers converge whatever the order
    (tests/integration/test_event_ordering_property_real.py); a record's events of one
    type (its versions) keep their order."""
    seen: dict[str, int] = {}
    placed = []
    for index, envelope in enumerate(envelopes):
        nth = seen.get(envelope.type, 0)
        seen[envelope.type] = nth + 1
        placed.append((nth // per_turn, index, envelope))
    placed.sort(key=lambda p: p[:2])
    return [envelope for *_, envelope in placed]


_RESULT_ITEMS = {"AttainmentRecorded": "attainment", "CharacteristicRecorded": "characteristics"}


class _Checked(NamedTuple):
    """A result's data, checked against its own contract, on its way into a
    ResultsRecorded."""
    type: str
    data: dict[str, Any]


def _passes(check: fastload.Load, data: dict[str, Any]) -> bool:
    """The fast check is sure the data matches, and it has no field the contract lacks."""
    try:
        return data.keys() <= check(data).keys()
    except fastload.Unsure:
        return False


@functools.lru_cache(maxsize=None)
def _contract(event_type: str) -> tuple[contracts.Contract | None, fastload.Load | None]:
    """The latest contract of a type ingest produces and its compiled check; (None, None)
    for anything else, left to new_envelope to refuse."""
    try:
        contract = contracts.latest(event_type)
    except contracts.ContractError:
        return None, None
    if contract.producer not in (contracts.ANY_PRODUCER, PRODUCER):
        return None, None
    return contract, fastload.fast_path(contract.schema())
