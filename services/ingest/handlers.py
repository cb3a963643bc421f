"""Event handlers of the ingest service, and their one explicit map.

Rights events are answered by the shared participant (see personal_data.py); ingest also
tells dsar which id a school's source id has (it alone keeps that mapping, hashed).
"""
from __future__ import annotations

import sqlalchemy as sa

from shared.service import ServiceContext

from . import domain
from .models import records


def build_handlers(ctx: ServiceContext) -> dict:
    def on_subject_id_requested(session, envelope, data):
        query = sa.select(records.c.id).where(records.c.school_id == envelope.school_id,
                                              records.c.record_type == data["subject_type"])
        if data.get("subject_id"):
            query = query.where(records.c.id == data["subject_id"])
        else:
            query = query.where(records.c.source_key == domain.source_key(
                envelope.school_id, data["subject_type"], data["source_id"]))
        subject_id = session.execute(query).scalar()
        ctx.outbox.add(session, "SubjectIdResolved", {
            "request_id": data["request_id"], "subject_id": subject_id},
            school_id=envelope.school_id)

    return {"SubjectIdRequested": on_subject_id_requested}
