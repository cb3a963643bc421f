"""Exchange, queues and bindings, derived from the contracts (DESIGN.md "Messaging decisions").

Every worker and relay declares the whole topology when it connects (idempotent), so an
event whose consumer is not running yet waits in that consumer's durable queue.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kombu import Exchange, Queue, binding

from shared import contracts
from shared.config import RIGHTS_PARTICIPANTS, SERVICES, Settings

CHANNELS = (contracts.DATA, contracts.RIGHTS)


def exchange(settings: Settings) -> Exchange:
    return Exchange(settings.exchange, type="topic", durable=True)


def queue_name(settings: Settings, service: str, channel: str) -> str:
    return f"{settings.queue_prefix}{service}.{channel}"


def consumers_of(contract: contracts.Contract) -> tuple[str, ...]:
    groups = {contracts.EVERY_PARTICIPANT: RIGHTS_PARTICIPANTS,
              contracts.EVERY_SERVICE: SERVICES}
    names: list[str] = []
    for consumer in contract.consumers:
        names.extend(groups.get(consumer, (consumer,)))
    return tuple(dict.fromkeys(names))


def subscriptions(service: str) -> dict[str, list[contracts.Contract]]:
    """The contracts a service consumes, by channel, as the catalogue names them."""
    out: dict[str, list[contracts.Contract]] = {c: [] for c in CHANNELS}
    for contract in contracts.CONTRACTS:
        if service in consumers_of(contract):
            out[contract.channel].append(contract)
    return out


def make_queue(settings: Settings, service: str, channel: str,
               binding_keys: list[str]) -> Queue:
    ex = exchange(settings)
    return Queue(
        queue_name(settings, service, channel), exchange=ex, durable=True,
        auto_delete=False,
        bindings=[binding(ex, routing_key=key) for key in sorted(set(binding_keys))],
        # Quorum queues replicate and survive node loss. No x-delivery-limit: attempts are
        # counted by our consumer, which dead-letters into the service's database.
        queue_arguments={"x-queue-type": "quorum"})


def service_queue(settings: Settings, service: str, channel: str,
                  event_types: list[str] | None = None) -> Queue:
    """A service's queue for one channel, bound to what the contracts say it consumes
    (or, for test consumers, to the given event types)."""
    if event_types is None:
        keys = [c.binding_key for c in subscriptions(service)[channel]]
    else:
        keys = [contracts.latest(t).binding_key for t in event_types]
    return make_queue(settings, service, channel, keys)


def all_queues(settings: Settings) -> list[Queue]:
    queues = []
    for service in SERVICES:
        subs = subscriptions(service)
        for channel in CHANNELS:
            if subs[channel]:
                queues.append(service_queue(settings, service, channel))
    return queues


# Bindings an earlier release declared and this one does not: (service, channel, binding
# key). A queue keeps its bindings until they are removed, so each is unbound as the
# topology is declared. A message already on the queue when its binding goes is
# dead-lettered there ("no handler"), as docs/decisions.md says.
RETIRED_BINDINGS: tuple[tuple[str, str, str], ...] = (
    # Events a service did nothing with (issue 22: no service keeps a no-op handler).
    # (dsar's identity.school_activated is bound again: it keeps each school's default
    # language for an export's summary, issue 29.)
    ("reports", contracts.DATA, "identity.school_activated"),
    ("identity", contracts.DATA, "ingest.staff_removed"),
)


def declare_topology(channel: Any, settings: Settings, extra: Sequence[Queue] = ()) -> None:
    ex = exchange(settings)
    ex(channel).declare()
    queues = [*all_queues(settings), *extra]
    for queue in queues:
        queue(channel).declare()
    declared = {queue.name for queue in queues}
    for service, queue_channel, key in RETIRED_BINDINGS:
        name = queue_name(settings, service, queue_channel)
        if name in declared:  # unbinding from a queue that is not there fails the channel
            channel.queue_unbind(queue=name, exchange=ex.name, routing_key=key)
