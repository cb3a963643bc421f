"""OneRoster uploads as jobs (issue 23): the request checks the bundle (every fault at once,
422), stores the zip as a job row and answers 202; the worker applies it.

Durable by construction: the job row and its zip commit in the request's transaction, and
the worker applies a job in one transaction that holds the row (FOR UPDATE SKIP LOCKED)
and marks it applied in the same commit. A worker that dies mid-job rolls back, the row
is still `queued`, and the next round (of any worker) takes it again; a job that fails
`MAX_ATTEMPTS` times for a reason other than its data ends `failed` and is logged.
docs/decisions.md "OneRoster uploads as jobs" gives the reasons.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.auth import Principal
from shared.db import advisory_lock, utcnow
from shared.errors import Conflict, NotFound
from shared.rights.participant import lock_school_data

from . import oneroster
from .domain import JobStatus
from .models import roster_job_progress as progress_table
from .models import roster_jobs
from .service import RosterImport

log = logging.getLogger(__name__)

QUEUED, APPLYING, APPLIED, REFUSED, FAILED = (
    JobStatus.QUEUED, JobStatus.APPLYING, JobStatus.APPLIED, JobStatus.REFUSED, JobStatus.FAILED)
MAX_ATTEMPTS = 3
# Where each stage starts in the percentage shown: each stage's share of an application's
# time, measured on a 2,000-student bundle (reading a quarter, the events a third).
STAGE_START = {"reading": 0, "checking": 25, "applying": 35, "saving": 70}
PROGRESS_EVERY_SECONDS = 0.5  # at most one progress write per stage this often


@dataclass
class RosterJobs:
    roster: RosterImport
    engine: sa.Engine  # progress is written on a connection of its own

    # --- the request ----------------------------------------------------------------------
    def submit(self, session: Session, principal: Principal, school_ids: list[str],
               trust: bool, data: bytes) -> dict:
        """The job for these bytes: the one sent before (unless it ended refused or failed:
        then it is queued again, as the roster held may have changed), else a new one once
        the bundle passes every check (BundleRejected otherwise: nothing is stored)."""
        key = self._key(session, school_ids, trust, principal, data)
        advisory_lock(session, f"ingest-job:{key}")
        row = session.execute(sa.select(roster_jobs).where(
            roster_jobs.c.job_key == key)).first()
        if row is not None and row.status not in (REFUSED, FAILED):
            return self._answer(session, row)
        if trust:
            schools = self.roster.trust_schools(session, school_ids)
        else:
            schools = school_ids
        # As a data event: an offboarding waits for the stored bundle (and blanks it), or
        # the check sees the school gone.
        lock_school_data(session, schools, shared=True)
        for school in schools:
            self.roster.check(session, school, data)
        values = {"status": QUEUED, "bundle": data, "size": len(data), "attempts": 0,
                  "received_at": utcnow(), "finished_at": None, "result": None,
                  "faults": None, "schools": schools}
        if row is None:
            job_id = str(uuid.uuid4())
            session.execute(roster_jobs.insert().values(
                job_id=job_id, school_id=principal.school_ids[0] if trust else schools[0],
                trust=trust, uploaded_by=principal.account_id, job_key=key, **values))
        else:
            job_id = row.job_id
            session.execute(roster_jobs.update().where(roster_jobs.c.job_id == job_id)
                            .values(**values))
        log.info("oneroster job queued job_id=%s schools=%d size=%d", job_id, len(schools),
                 len(data))
        return self.status(session, principal, job_id)

    def _key(self, session: Session, school_ids: list[str], trust: bool,
             principal: Principal, data: bytes) -> str:
        """The same bytes for the same schools under the same settings: the same job."""
        scope = [sorted(school_ids), principal.account_id if trust else None,
                 [repr(self.roster.settings(session, s)) for s in sorted(school_ids)]]
        digest = hashlib.sha256(json.dumps(scope).encode())
        digest.update(data)
        return digest.hexdigest()

    def status(self, session: Session, principal: Principal, job_id: str) -> dict:
        """The job as its uploader sees it: 404 for anyone else (another school, or for a
        trust's job, another client)."""
        try:
            uuid.UUID(job_id)
        except ValueError:
            raise NotFound() from None
        row = session.execute(sa.select(roster_jobs).where(
            roster_jobs.c.job_id == job_id)).first()
        if row is None or not (row.uploaded_by == principal.account_id or (
                not row.trust and principal.in_school(row.school_id))):
            raise NotFound()
        return self._answer(session, row)

    @staticmethod
    def _answer(session: Session, row: Any) -> dict:
        status, progress = row.status, None
        if status == QUEUED:
            step = session.execute(sa.select(progress_table).where(
                progress_table.c.job_id == row.job_id)).first()
            if step is not None:
                status, progress = APPLYING, {
                    "stage": step.stage, "done": step.done, "total": step.total,
                    "percent": percent(step.stage, step.done, step.total)}
        return {"job_id": row.job_id, "status": status, "received_at": row.received_at,
                "finished_at": row.finished_at, "size": row.size, "schools": row.schools,
                "progress": progress, "result": row.result, "faults": row.faults or [],
                "status_url": f"/api/v1/school-data/oneroster/jobs/{row.job_id}"}

    # --- the worker -----------------------------------------------------------------------
    def run_next(self, sessions) -> bool:
        """Claim and apply the oldest queued job; False when there is none."""
        job_id = self._claim(sessions)
        if job_id is None:
            return False
        if not job_id:
            return True  # it ended failed: the next one
        with sessions() as session:
            session.begin()
            row = session.execute(sa.select(roster_jobs).where(
                roster_jobs.c.job_id == job_id, roster_jobs.c.status == QUEUED)
                .with_for_update(skip_locked=True)).first()
            if row is None:
                session.rollback()
                return True  # another worker has it, or it is done
            report = _ProgressWriter(self.engine, job_id, row.school_id)
            data = bytes(row.bundle)
            try:
                if row.trust:
                    result = self.roster.upload_for_trust(session, row.schools, data,
                                                          report)
                else:
                    result = self.roster.upload(session, row.schools[0], data, report)
            except (oneroster.BundleRejected, Conflict) as exc:
                session.rollback()  # nothing of it stays
                faults = exc.errors if isinstance(exc, oneroster.BundleRejected) else [
                    {"file": None, "line": None, "error": exc.answer or exc.code}]
                self._finish(sessions, job_id, REFUSED, None, faults)
                return True
            self._end(session, job_id, APPLIED, result, None)
            session.commit()
        log.info("oneroster job applied job_id=%s", job_id)
        return True

    def _claim(self, sessions) -> str | None:
        """The oldest queued job no one holds, its attempt counted; None: none. A job that
        brought its worker down MAX_ATTEMPTS times ends `failed` ("")."""
        with sessions() as session, session.begin():
            row = session.execute(sa.select(
                roster_jobs.c.job_id, roster_jobs.c.attempts).where(
                roster_jobs.c.status == QUEUED).order_by(roster_jobs.c.received_at)
                .limit(1).with_for_update(skip_locked=True)).first()
            if row is None:
                return None
            session.execute(progress_table.delete().where(
                progress_table.c.job_id == row.job_id))
            if row.attempts >= MAX_ATTEMPTS:
                log.error("oneroster job failed job_id=%s attempts=%d", row.job_id,
                          row.attempts)
                self._end(session, row.job_id, FAILED, None, [{
                    "file": None, "line": None, "error": "The upload could not be applied "
                    "(an error on our side, logged for the team): send it again later."}])
                return ""
            session.execute(roster_jobs.update().where(roster_jobs.c.job_id == row.job_id)
                            .values(attempts=row.attempts + 1))
            return str(row.job_id)

    def _finish(self, sessions, job_id: str, status: str, result: dict | None,
                faults: list[dict] | None) -> None:
        with sessions() as session, session.begin():
            self._end(session, job_id, status, result, faults)
        log.info("oneroster job %s job_id=%s faults=%d", status, job_id, len(faults or []))

    @staticmethod
    def _end(session: Session, job_id: str, status: str, result: dict | None,
             faults: list[dict] | None) -> None:
        """The job's answer kept; its zip (personal data) deleted."""
        session.execute(roster_jobs.update().where(
            roster_jobs.c.job_id == job_id, roster_jobs.c.status == QUEUED).values(
            status=status, result=result, faults=faults, bundle=None, finished_at=utcnow()))
        session.execute(progress_table.delete().where(progress_table.c.job_id == job_id))

    def drain(self, sessions) -> None:
        """The worker loop's round: every queued job, one after the other."""
        while self.run_next(sessions):
            pass


def percent(stage: str, done: int, total: int) -> int:
    starts = list(STAGE_START.values())
    start = STAGE_START.get(stage, 0)
    end = next((s for s in starts if s > start), 100)
    share = min(done / total, 1.0) if total else 0.0
    return int(start + (end - start) * share)


class _ProgressWriter:
    """Writes how far a job is, each in a short transaction of its own beside the job's
    (PostgreSQL; SQLite has one writer at a time, so there the job shows `queued` until it
    ends). A failed write is logged and the job goes on."""

    def __init__(self, engine: sa.Engine, job_id: str, school_id: str):
        self.engine, self.job_id, self.school_id = engine, job_id, school_id
        self.stage: str | None = None
        self.written = 0.0
        self.enabled = engine.dialect.name == "postgresql"

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or (stage == self.stage
                                and now - self.written < PROGRESS_EVERY_SECONDS):
            return
        self.stage, self.written = stage, now
        values = {"stage": stage, "done": done, "total": total, "updated_at": utcnow()}
        try:
            with self.engine.begin() as conn:
                if not conn.execute(progress_table.update().where(
                        progress_table.c.job_id == self.job_id).values(**values)).rowcount:
                    conn.execute(progress_table.insert().values(
                        job_id=self.job_id, school_id=self.school_id, **values))
        except sa.exc.SQLAlchemyError:
            log.warning("progress not written job_id=%s", self.job_id, exc_info=True)
