"""Which of the ingest service's tables and columns hold personal data, and of whom.

Ingest holds personal data in outbox rows not yet published (the relay blanks each
payload as the broker confirms it) and, for a school that uploads OneRoster bundles, in the
roster held to apply its deltas (`roster_rows`, erased with the subject). Its `records`
table keeps a hash of the school's source id, the UUID and a hash of the last content.
Erasing a subject deletes their record row: a push after the erasure is the school's new
instruction and gets a new id, while events produced before it carry the old id, which
every service's tombstone refuses.
"""
from __future__ import annotations

import json

import sqlalchemy as sa

from shared.db import advisory_lock
from shared.messaging.outbox import OutboxState
from shared.rights import NOT_PERSONAL, DataDeclaration, Personal, RightsParticipant
from shared.rights import TableDeclaration as T

from . import domain
from .models import batches, records, roster_erased, roster_rows

DECLARATION = DataDeclaration("ingest", tables=(
    T("records", {"school_id": NOT_PERSONAL, "record_type": NOT_PERSONAL,
                  "source_key": NOT_PERSONAL, "id": NOT_PERSONAL,
                  "content_hash": NOT_PERSONAL},
      subjects={"student": "id", "guardian": "id", "staff": "id"}),
    # Each rejected event's index, a reason naming fields only (never a value) and its
    # source id (issue 24), so the school's admin finds the record to correct; a source id
    # naming an erased subject's record is blanked with them (_forget_rejections).
    T("batches", {"school_id": NOT_PERSONAL, "batch_id": NOT_PERSONAL,
                  "body_hash": NOT_PERSONAL, "received_at": NOT_PERSONAL,
                  "rejected": Personal("any", "showing the school which events it sent "
                                              "were rejected, by the record's own id")}),
    # A school using OneRoster: the roster as last uploaded (names, emails, birth dates of
    # the students, contacts and teachers taken; no scores), so that deltas can be applied.
    T("roster_rows", {"school_id": NOT_PERSONAL, "file": NOT_PERSONAL,
                      "sourced_id": Personal("any", "the school's id of the record"),
                      "modified_at": NOT_PERSONAL, "subject_id": NOT_PERSONAL,
                      "data": Personal("any", "applying the school's OneRoster deltas")},
      subjects={"student": "subject_id", "guardian": "subject_id", "staff": "subject_id"}),
    T("roster_erased", {"school_id": NOT_PERSONAL, "source_key": NOT_PERSONAL}),
    # An upload accepted and not yet applied: the zip as sent (everyone in it), deleted
    # once the worker has applied or refused it (minutes). What stays is counts and faults
    # by file and line (reasons name columns, never values).
    T("roster_jobs", {"job_id": NOT_PERSONAL, "school_id": NOT_PERSONAL, "schools": NOT_PERSONAL,
                      "uploaded_by": NOT_PERSONAL, "job_key": NOT_PERSONAL,
                      "status": NOT_PERSONAL, "received_at": NOT_PERSONAL,
                      "finished_at": NOT_PERSONAL, "result": NOT_PERSONAL,
                      "faults": NOT_PERSONAL,
                      "bundle": Personal("any", "applying the school's OneRoster upload")}),
    T("roster_job_progress", {"school_id": NOT_PERSONAL, "job_id": NOT_PERSONAL,
                              "stage": NOT_PERSONAL, "updated_at": NOT_PERSONAL}),
    T("roster_settings", {"school_id": NOT_PERSONAL, "report_contact_roles": NOT_PERSONAL,
                          "school_org_ids": NOT_PERSONAL}),
))


class IngestParticipant(RightsParticipant):
    """Exports the subject's own events still waiting to go out; erasure and offboarding
    take the school's push lock, so no batch commits events in between."""

    def export(self, session, subject):
        out = super().export(session, subject)
        outbox = self.tables.outbox
        rows = session.execute(sa.select(outbox.c.event_type, outbox.c.payload).where(
            OutboxState.WAITING.rows(outbox), outbox.c.payload.like(f"%{subject.id}%"))).all()
        key = f"{subject.type}_id"
        out["unsent_events"] = [
            {"event_type": r.event_type, "data": data} for r in rows
            if (data := json.loads(r.payload)["data"]).get(key) == subject.id]
        out["rejected_events"] = [
            {"batch_id": batch_id, "received_at": at.isoformat(), **rejection}
            for batch_id, at, rejection in _subjects_rejections(session, subject)]
        return out

    def erase(self, session, subject):
        advisory_lock(session, f"ingest:{subject.school_id}")
        self._claim_held_rows(session, subject)
        self._forget_roster_user(session, subject)
        forgotten = _forget_rejections(session, subject)  # before the record row goes
        return {**super().erase(session, subject), "rejected_source_ids": forgotten}

    @staticmethod
    def _claim_held_rows(session, subject) -> None:
        """A OneRoster user with several roles (a teacher who is also a guardian) has a
        record per role, but their held rows carry one record's id: erasing any of their
        records erases those rows too."""
        school = subject.school_id
        key = session.execute(sa.select(records.c.source_key).where(
            records.c.school_id == school, records.c.id == subject.id)).scalar()
        if key is None:
            return
        users = {sid for sid, held_by in session.execute(sa.select(
            roster_rows.c.sourced_id, roster_rows.c.subject_id).where(
            roster_rows.c.school_id == school, roster_rows.c.file == "users")).all()
            if held_by != subject.id and domain.source_key(school, subject.type, sid) == key}
        if not users:
            return
        held = session.execute(sa.select(
            roster_rows.c.file, roster_rows.c.sourced_id, roster_rows.c.data).where(
            roster_rows.c.school_id == school,
            roster_rows.c.file.in_(("users", "demographics", "roles", "enrollments")))).all()
        for row in held:
            person = row.sourced_id if row.file in ("users", "demographics") \
                else row.data.get("user")
            if person in users:
                session.execute(roster_rows.update().where(
                    roster_rows.c.school_id == school, roster_rows.c.file == row.file,
                    roster_rows.c.sourced_id == row.sourced_id).values(subject_id=subject.id))

    @staticmethod
    def _forget_roster_user(session, subject) -> None:
        """A OneRoster user erased: remember that (as a hash), so later bundles naming them
        are not refused, and take their sourcedId out of other users' links."""
        school = subject.school_id
        gone = set(session.execute(sa.select(roster_rows.c.sourced_id).where(
            roster_rows.c.school_id == school, roster_rows.c.file == "users",
            roster_rows.c.subject_id == subject.id)).scalars())
        for sourced_id in sorted(gone):
            key = domain.source_key(school, "user", sourced_id)
            if not session.execute(sa.select(roster_erased.c.source_key).where(
                    roster_erased.c.school_id == school,
                    roster_erased.c.source_key == key)).first():
                session.execute(roster_erased.insert().values(school_id=school, source_key=key))
        if not gone:
            return
        for row in session.execute(sa.select(roster_rows).where(
                roster_rows.c.school_id == school, roster_rows.c.file == "users")).all():
            agents = row.data.get("agents") or []
            if gone & set(agents):
                session.execute(roster_rows.update().where(
                    roster_rows.c.school_id == school, roster_rows.c.file == "users",
                    roster_rows.c.sourced_id == row.sourced_id).values(
                    data={**row.data, "agents": [a for a in agents if a not in gone]}))

    def offboard(self, session, school_id: str):
        advisory_lock(session, f"ingest:{school_id}")
        counts = super().offboard(session, school_id)
        outbox = self.tables.outbox
        counts["unsent_events"] = session.execute(outbox.delete().where(
            outbox.c.school_id == school_id, OutboxState.WAITING.rows(outbox))).rowcount
        return counts



def _subject_key(session, subject) -> str | None:
    return session.execute(sa.select(records.c.source_key).where(
        records.c.school_id == subject.school_id, records.c.id == subject.id)).scalar()


def _names_subject(rejection: dict, subject, key: str) -> bool:
    sid = rejection.get("source_id")
    return bool(sid) and domain.source_key(subject.school_id, subject.type, sid) == key


def _school_rejections(session, school_id: str):
    return session.execute(sa.select(batches.c.batch_id, batches.c.received_at,
                                     batches.c.rejected).where(
        batches.c.school_id == school_id)).all()


def _subjects_rejections(session, subject):
    """(batch id, received at, rejection) of every rejected event of the school whose
    source id is the subject's record's (compared as ingest's keyed hash of it)."""
    key = _subject_key(session, subject)
    if key is None:
        return
    for row in _school_rejections(session, subject.school_id):
        for rejection in row.rejected or []:
            if _names_subject(rejection, subject, key):
                yield row.batch_id, row.received_at, rejection


def _forget_rejections(session, subject) -> int:
    """The subject's source id goes from every rejection naming it (its index and reason
    stay: the school's counts do not change). The number of rejections blanked."""
    key = _subject_key(session, subject)
    if key is None:
        return 0
    forgotten = 0
    for row in _school_rejections(session, subject.school_id):
        rejected = list(row.rejected or [])
        kept = [{**r, "source_id": None} if _names_subject(r, subject, key) else r
                for r in rejected]
        if kept != rejected:
            forgotten += sum(1 for a, b in zip(rejected, kept) if a != b)
            session.execute(batches.update().where(
                batches.c.school_id == subject.school_id,
                batches.c.batch_id == row.batch_id).values(rejected=kept))
    return forgotten
