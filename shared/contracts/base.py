"""What a contract is: one event type at one version, its schema, producer and consumers."""
from __future__ import annotations

import builtins
import functools
import re
from dataclasses import dataclass

from marshmallow import EXCLUDE, Schema, fields, validate

from .fields import UuidString

DATA = "data"
RIGHTS = "rights"
ANY_PRODUCER = "*"  # rights answers come from every participant
# Consumers named as a group, resolved by the topology (shared/config.py names them):
EVERY_PARTICIPANT = "every-participant"  # RIGHTS_PARTICIPANTS, the data map's services
EVERY_SERVICE = "every-service"          # SERVICES, all of them

SUBJECT_TYPES = ("student", "guardian", "staff")

# Field metadata of a secret that travels in an event (an invitation or reset token): it is
# blanked wherever the event comes to rest (the producer's outbox once the broker has it,
# dead letters, exports), since a reader of a database or a backup could use it.
SECRET = {"secret": True}


class EventData(Schema):
    class Meta:
        unknown = EXCLUDE  # consumers ignore fields they do not know


class RecordEvent(EventData):
    """Every event about a record carries that record's increasing version (DESIGN.md)."""

    record_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))


class Subject(EventData):
    school_id = UuidString(required=True)
    type = fields.String(required=True, validate=validate.OneOf(SUBJECT_TYPES))
    id = UuidString(required=True)


@functools.cache  # an event type's name: a few dozen, asked for every event written
def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class Contract:
    type: str
    version: int
    producer: str
    schema: builtins.type[Schema]  # builtins: the field `type` shadows it here
    consumers: tuple[str, ...] | str
    channel: str = DATA

    def routing_key(self, producer: str | None = None) -> str:
        """`<producer>.<event_snake>`; answers name their actual producer."""
        who = producer or self.producer
        if who == ANY_PRODUCER:
            raise ValueError(f"{self.type} needs the answering service named")
        return f"{who}.{snake(self.type)}"

    @property
    def binding_key(self) -> str:
        return f"{self.producer}.{snake(self.type)}"
