"""Which of the ingest service's tables and columns hold personal data, and of whom.

Ingest holds personal data only in outbox rows not yet published (the relay blanks each
payload as the broker confirms it). Its `records` table keeps a hash of the school's source
id, the UUID and a hash of the last content: pseudonymous keys it must keep so that an
erased record is not taken again under a new id. The participant therefore exports and
deletes unsent events about the subject, and keeps the id mapping.
"""
from __future__ import annotations

import sqlalchemy as sa

from shared.db import utcnow
from shared.rights import NOT_PERSONAL, DataDeclaration, RightsParticipant
from shared.rights import TableDeclaration as T

DECLARATION = DataDeclaration("ingest", tables=(
    T("records", {"school_id": NOT_PERSONAL, "record_type": NOT_PERSONAL,
                  "source_key": NOT_PERSONAL, "id": NOT_PERSONAL,
                  "content_hash": NOT_PERSONAL}),
    T("batches", {"school_id": NOT_PERSONAL, "batch_id": NOT_PERSONAL,
                  "body_hash": NOT_PERSONAL, "received_at": NOT_PERSONAL,
                  "rejected": NOT_PERSONAL}),  # index and field-name reasons only
    T("offboarded_schools", {"school_id": NOT_PERSONAL, "offboarded_at": NOT_PERSONAL},
      school_column=None),
))


class IngestParticipant(RightsParticipant):
    def _unsent(self, subject_id: str):
        outbox = self.tables.outbox
        return sa.and_(outbox.c.sent_at.is_(None), outbox.c.payload.like(f"%{subject_id}%"))

    def export(self, session, subject):
        out = super().export(session, subject)
        rows = session.execute(sa.select(self.tables.outbox.c.event_type,
                                         self.tables.outbox.c.payload)
                               .where(self._unsent(subject.id))).all()
        out["unsent_events"] = [{"event_type": r.event_type, "payload": r.payload}
                                for r in rows]
        return out

    def erase(self, session, subject):
        counts = super().erase(session, subject)
        counts["unsent_events"] = session.execute(
            self.tables.outbox.delete().where(self._unsent(subject.id))).rowcount
        return counts

    def offboard(self, session, school_id: str):
        counts = super().offboard(session, school_id)
        outbox = self.tables.outbox
        counts["unsent_events"] = session.execute(outbox.delete().where(
            outbox.c.school_id == school_id, outbox.c.sent_at.is_(None))).rowcount
        from .models import offboarded_schools
        if not session.execute(sa.select(offboarded_schools.c.school_id).where(
                offboarded_schools.c.school_id == school_id)).first():
            session.execute(offboarded_schools.insert().values(school_id=school_id,
                                                               offboarded_at=utcnow()))
        return counts
