"""The events the ingest service acts on, each routed to its handler.

Rights events are answered by the shared participant (see personal_data.py); ingest also
tells dsar which id a school's source id has (it alone keeps that mapping, hashed).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.messaging.consumer import Event, Route, route
from shared.messaging.outbox import Outbox
from shared.service import ServiceContext

from . import domain
from .models import records

D = TypeVar("D", bound=ev.EventData)
Events = Sequence[Event[D]]  # a handler's events, of one type


class Handlers:
    def __init__(self, outbox: Outbox):
        self.outbox = outbox

    def routes(self) -> list[Route]:
        return [route(ev.SubjectIdRequested, self.on_subject_id_requested)]

    def on_subject_id_requested(self, session: Session,
                                events: Events[ev.SubjectIdRequested]) -> None:
        for e in events:
            data = e.data
            query = sa.select(records.c.id).where(records.c.school_id == e.school,
                                                  records.c.record_type == data.subject_type)
            if data.subject_id:
                query = query.where(records.c.id == data.subject_id)
            else:
                query = query.where(records.c.source_key == domain.source_key(
                    e.school, data.subject_type, cast(str, data.source_id)))
            subject_id = session.execute(query).scalar()
            self.outbox.add(session, "SubjectIdResolved", {
                "request_id": data.request_id, "subject_id": subject_id},
                school_id=e.school_id)


def build_routes(ctx: ServiceContext) -> list[Route]:
    return Handlers(ctx.outbox).routes()
