"""Records the school removed (StudentRemoved, GuardianRemoved, …), remembered by id with the
removal's record_version, so a late or replayed older event about them changes nothing,
while a newer one (the school adding the record back) does. Each service that projects
school records keeps this table in its own database."""
from __future__ import annotations

from collections.abc import Collection, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.db import among


def define_removed_records(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "removed_records", metadata,
        sa.Column("school_id", sa.String(36), primary_key=True),
        sa.Column("record_type", sa.String(20), primary_key=True),
        sa.Column("record_id", sa.String(36), primary_key=True),
        sa.Column("record_version", sa.Integer, nullable=False),
    )


class Removals:
    def __init__(self, table: sa.Table):
        self.table = table

    def _key(self, record_type: str, record_id: str) -> tuple[sa.ColumnElement[bool], ...]:
        return (self.table.c.record_type == record_type, self.table.c.record_id == record_id)

    def remember(self, session: Session, school_id: str, record_type: str, record_id: str,
                 version: int) -> None:
        previous = session.execute(sa.select(self.table.c.record_version).where(
            *self._key(record_type, record_id))).scalar()
        if previous is None:
            session.execute(self.table.insert().values(
                school_id=school_id, record_type=record_type, record_id=record_id,
                record_version=version))
        elif previous < version:
            session.execute(self.table.update().where(*self._key(record_type, record_id))
                            .values(record_version=version))

    def removed_at(self, session: Session, record_type: str, record_id: str) -> int | None:
        return session.execute(sa.select(self.table.c.record_version).where(
            *self._key(record_type, record_id))).scalar()

    def stale(self, session: Session, record_type: str, record_id: str,
              version: int) -> bool:
        """True for an event about a removed record that is not newer than the removal;
        a newer one means the school added the record back, and the marker goes."""
        return record_id in self.stale_among(session, record_type, {record_id: version})

    def stale_among(self, session: Session, record_type: str,
                    versions: Mapping[str, int]) -> set[str]:
        """stale() for many records at once (record id -> the event's version), in two
        statements at most: the ids whose events are stale; the markers of the records
        added back (a newer version) go."""
        if not versions:
            return set()
        removed = dict(session.execute(sa.select(
            self.table.c.record_id, self.table.c.record_version).where(
            self.table.c.record_type == record_type,
            among(self.table.c.record_id, sorted(versions)))).all())
        back = sorted(i for i, at in removed.items() if versions[i] > at)
        if back:
            session.execute(self.table.delete().where(self.table.c.record_type == record_type,
                                                      among(self.table.c.record_id, back)))
        return set(removed) - set(back)

    def removed_among(self, session: Session, record_type: str,
                      record_ids: Collection[str]) -> set[str]:
        """Which of these records the school removed (one query)."""
        if not record_ids:
            return set()
        return set(session.execute(sa.select(self.table.c.record_id).where(
            self.table.c.record_type == record_type,
            among(self.table.c.record_id, list(record_ids)))).scalars())

    def is_removed(self, session: Session, record_type: str, record_id: str) -> bool:
        return self.removed_at(session, record_type, record_id) is not None
