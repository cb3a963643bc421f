"""The erasure ledger: every erasure and every school offboarding, sent and completed, in a
small database of its own (`PP_ERASURE_LEDGER_URL`) that a restore of the services'
databases never rolls back.

It holds ids only (the request, the school, the subject's type and id: pseudonymous keys, no
name, email or date of birth), so it may be kept longer than any backup and copied freely.
A restore (shared/restore.py) asks it which erasures and offboardings a backup does not hold
yet and carries them out again before the system serves (docs/operations.md, "Restoring a
backup").

Rows are appended, never updated: `sent` when the request first goes out (an erasure: dsar
asking the services; an offboarding: identity's SchoolOffboarded), written before that
transaction commits, so a request that went out is never missing here (a transaction that
then rolls back leaves a row for a request the school or the operator did make, and is
carried out at a restore); `completed` once every service answered done (dsar writes it,
after they all committed). An offboarding is the subject type `school` with the school's id
as the subject, under dsar's id for it (`offboarding_request_id`). `seq` comes from one
sequence, so a row numbered at or below a backup's mark was written before the backup began.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa

from shared.db import UtcDateTime, make_engine, utcnow


class Step(StrEnum):
    """How far an erasure or offboarding the ledger holds has gone."""
    SENT = "sent"            # filed (dsar) or sent (identity's SchoolOffboarded)
    COMPLETED = "completed"  # every service answered done


SENT, COMPLETED = Step.SENT, Step.COMPLETED  # by name: a reordered enum cannot swap them
SCHOOL = "school"  # the subject type of an offboarding: the whole school
# The services that write the ledger: each needs PP_ERASURE_LEDGER_URL wherever it runs
# (docker-compose.yml, deploy/k8s, deploy/stack.py; tests/unit/test_deploy.py checks).
RECORDERS = ("dsar", "identity")


def offboarding_request_id(event_id: str) -> str:
    """dsar's id for the offboarding that identity's SchoolOffboarded `event_id` asks for
    (identity writes `sent` under it, dsar `completed`)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"offboarding/{event_id}"))

metadata = sa.MetaData()
entries = sa.Table(
    "erasure_ledger", metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("request_id", sa.String(36), nullable=False, index=True),
    sa.Column("school_id", sa.String(36), nullable=False),
    sa.Column("subject_type", sa.String(20), nullable=False),
    sa.Column("subject_id", sa.String(36), nullable=False),
    sa.Column("step", sa.String(20), nullable=False),  # sent | completed
    sa.Column("at", UtcDateTime, nullable=False),
)


@dataclass(frozen=True)
class Owed:
    """A subject a restored system must erase again, and the requests that erased them."""
    school_id: str
    subject_type: str
    subject_id: str
    request_ids: tuple[str, ...]

    @property
    def offboarding(self) -> bool:
        return self.subject_type == SCHOOL


class ErasureLedger:
    def __init__(self, url: str):
        self.engine = make_engine(url)
        # One table, append-only: no migration history. dsar's web and worker processes
        # start at once: one makes it, the others wait for the lock and find it.
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('pp_erasure_ledger'))"))
            metadata.create_all(conn)

    def record(self, step: str, request_id: str, school_id: str, subject_type: str,
               subject_id: str) -> None:
        """One row, committed at once on the ledger's own connection."""
        with self.engine.begin() as conn:
            conn.execute(entries.insert().values(
                request_id=request_id, school_id=school_id, subject_type=subject_type,
                subject_id=subject_id, step=step, at=utcnow()))

    def mark(self) -> int:
        """The last row written so far: a backup taken from now on holds every erasure
        completed at or below it."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(entries.c.seq), 0)))
                       .scalar_one())

    def owed(self, mark: int | None = None, since: dt.datetime | None = None) -> list[Owed]:
        """The erasures and offboardings a backup does not hold: every one sent, except
        those completed at or below `mark` (a backup's manifest) or before `since` (a
        point in time a database was recovered to). One entry per subject (a school, for
        an offboarding), oldest first."""
        done = sa.select(entries.c.request_id).where(entries.c.step == COMPLETED)
        if mark is not None:
            done = done.where(entries.c.seq <= mark)
        elif since is not None:
            done = done.where(entries.c.at < since)
        else:
            done = done.where(sa.false())
        query = (sa.select(entries).where(entries.c.step == SENT,
                                          entries.c.request_id.not_in(done))
                 .order_by(entries.c.seq))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        by_subject: dict[tuple[str, str, str], list[str]] = {}
        for row in rows:
            key = (row.school_id, row.subject_type, row.subject_id)
            by_subject.setdefault(key, []).append(row.request_id)
        return [Owed(school, kind, subject, tuple(ids))
                for (school, kind, subject), ids in by_subject.items()]

    def dispose(self) -> None:
        self.engine.dispose()


def ledger_from_url(url: str | None) -> ErasureLedger | None:
    return ErasureLedger(url) if url else None
