"""Reports use cases: projections of the school's events, publishing snapshots, and reading
them only as the right person. Events go to the outbox in the same transaction."""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.db import advisory_lock, among, upsert_versioned_many, utcnow
from shared.errors import Invalid, Locked, NotFound
from shared.pages import Key, Page, keyset_page
from shared.messaging.outbox import Outbox
from shared.removals import Removals
from shared.auth import Principal
from shared.rights import RightsParticipant
from shared.rights.participant import lock_school_data

from . import domain, progress, schemas
from .reader import OneRowReader
from .roster import RosterProjections
from .models import (attainment, characteristics, class_teachers, classes, enrolments,
                     parent_access, plumbing, removed_records, reports, staff,
                     student_accounts, students)

log = logging.getLogger(__name__)


class Restricted(Locked):
    """The school restricted processing of this student's data: kept, not shown."""
    code = "processing_restricted"
    answer = ("The school has restricted the processing of this student's data; it is "
              "kept but not shown for now.")


class EmbargoInThePast(Invalid):
    field = "visible_from"
    answer = ("The date parents see the reports from is in the past: leave it empty to "
              "show them at once, or give a later date.")


EMBARGO_SLACK = dt.timedelta(minutes=5)  # a form filled in slowly is not "in the past"


def _attainment_row(school_id: str, student_id: str,
                    data: ev.AttainmentRecorded | ev.ResultsRecordedAttainment,
                    ) -> dict[str, Any]:
    """The attainment row an AttainmentRecorded (or a ResultsRecorded's item of it) writes."""
    return {"attainment_id": data.attainment_id, "class_id": data.class_id,
            "kind": data.kind, "value": data.value, "out_of": data.out_of,
            "topic": data.topic, "school_id": school_id, "student_id": student_id,
            "period": data.period, "record_version": data.record_version}


def _characteristic_row(school_id: str, student_id: str,
                        data: ev.CharacteristicRecorded | ev.ResultsRecordedCharacteristics,
                        ) -> dict[str, Any]:
    """The characteristics row a CharacteristicRecorded (or a ResultsRecorded's item of
    it) writes."""
    return {"characteristic_id": data.characteristic_id, "class_id": data.class_id,
            "kind": data.kind, "value": data.value, "school_id": school_id,
            "student_id": student_id, "period": data.period,
            "record_version": data.record_version}


def shown_to_readers(now: dt.datetime) -> list[sa.ColumnElement[bool]]:
    """What a parent or student sees of the reports: visible, neither replaced by a
    correction nor withdrawn."""
    return [reports.c.visible_from <= now, reports.c.replaced_by.is_(None),
            reports.c.withdrawn_at.is_(None)]


@dataclass
class Reports(RosterProjections):
    outbox: Outbox
    participant: RightsParticipant
    clock: Callable[[], dt.datetime] = utcnow
    removals: Removals = field(default_factory=lambda: Removals(removed_records))

    def erased(self, session: Session, subject_type: str, subject_id: str | None,
               school_id: str | None) -> bool:
        if not subject_id:
            return False
        return self.participant.is_erased(session, subject_type, subject_id, school_id)

    # --- projections of the school's data (its roster: roster.py) ----------------------
    def record_attainments(self, session: Session,
                           items: Sequence[tuple[str, ev.AttainmentRecorded]]) -> None:
        """AttainmentRecorded events: the attainment upserted by version, unless the
        school removed the student."""
        self._upsert_results(session, attainment, "attainment_id", [
            _attainment_row(school_id, data.student_id, data) for school_id, data in items])

    def record_characteristics(self, session: Session,
                               items: Sequence[tuple[str, ev.CharacteristicRecorded]],
                               ) -> None:
        """CharacteristicRecorded events: the characteristic upserted by version, unless
        the school removed the student."""
        self._upsert_results(session, characteristics, "characteristic_id", [
            _characteristic_row(school_id, data.student_id, data)
            for school_id, data in items])

    def record_results(self, session: Session,
                       events: Sequence[tuple[str, ev.ResultsRecorded]]) -> None:
        """ResultsRecorded events: each item upserted as the AttainmentRecorded or
        CharacteristicRecorded it gathers would be (the event carries the student's id
        once); its rows are made straight from the items."""
        attainment_rows = [_attainment_row(school_id, data.student_id, item)
                           for school_id, data in events for item in data.attainment]
        characteristic_rows = [_characteristic_row(school_id, data.student_id, item)
                               for school_id, data in events for item in data.characteristics]
        if attainment_rows:
            self._upsert_results(session, attainment, "attainment_id", attainment_rows)
        if characteristic_rows:
            self._upsert_results(session, characteristics, "characteristic_id", characteristic_rows)

    def _upsert_results(self, session: Session, table: sa.Table, key: str,
                        rows: list[dict[str, Any]]) -> None:
        """Result rows (`_attainment_row`, `_characteristic_row`) upserted by version,
        but none of a student the school removed."""
        removed = self.removals.removed_among(session, "student",
                                              {row["student_id"] for row in rows})
        upsert_versioned_many(session, table, key, [
            row for row in rows if row["student_id"] not in removed])

    def remove_student(self, session: Session, school_id: str,
                       data: ev.StudentRemoved) -> None:
        """The school removed the student: their data goes; published reports stay in the
        archive (erasure is the way to remove those)."""
        student_id = data.student_id
        current = session.execute(sa.select(students.c.name_version,
                                            students.c.placement_version).where(
            students.c.student_id == student_id)).first()
        if current is not None and max(current) > data.record_version:
            return  # a late removal: the school has added the student back since
        self.removals.remember(session, school_id, "student", student_id,
                               data.record_version)
        for table in (enrolments, attainment, characteristics, parent_access):
            session.execute(table.delete().where(table.c.student_id == student_id))
        session.execute(students.delete().where(students.c.student_id == student_id))

    def remove_staff(self, session: Session, school_id: str, data: ev.StaffRemoved) -> None:
        self.removals.remember(session, school_id, "staff", data.staff_id,
                               data.record_version)
        session.execute(class_teachers.delete().where(
            class_teachers.c.staff_id == data.staff_id))
        session.execute(staff.delete().where(staff.c.staff_id == data.staff_id))

    def remove_class(self, session: Session, school_id: str, data: ev.ClassRemoved) -> None:
        self.removals.remember(session, school_id, "class", data.class_id,
                               data.record_version)
        for table in (class_teachers, enrolments):
            session.execute(table.delete().where(table.c.class_id == data.class_id))
        session.execute(classes.delete().where(classes.c.class_id == data.class_id))

    # --- who may read --------------------------------------------------------------------
    def link_changed(self, session: Session, school_id: str, data: ev.LinkEvent,
                     verified: bool) -> None:
        if verified and self.removals.is_removed(session, "student", data.student_id):
            return  # a late ParentVerified for a student the school removed
        upsert_versioned_many(session, parent_access, "link_id", [{
            "link_id": data.link_id, "school_id": school_id, "account_id": data.account_id,
            "guardian_id": data.guardian_id, "student_id": data.student_id,
            "verified": verified, "record_version": data.record_version}])

    def student_account(self, session: Session, data: ev.AccountActivated,
                        school_id: str | None) -> None:
        """AccountActivated: the login reads the reports of the student records it holds
        (the full set, whatever the role the event is about; one it no longer holds is
        dropped), each unless erased at its school."""
        session.execute(student_accounts.delete().where(
            student_accounts.c.account_id == data.account_id,
            student_accounts.c.student_id.not_in(data.student_ids)))
        held = set(data.student_ids)
        known = dict(session.execute(sa.select(students.c.student_id, students.c.school_id)
                                     .where(among(students.c.student_id, sorted(held)))).all())
        erased = self.participant.erased_at_their_schools(
            session, "student", {s: known.get(s, school_id) for s in held})
        for student_id in sorted(held - erased):
            if not session.execute(sa.select(student_accounts.c.account_id).where(
                    student_accounts.c.account_id == data.account_id,
                    student_accounts.c.student_id == student_id)).first():
                session.execute(student_accounts.insert().values(
                    account_id=data.account_id, student_id=student_id))

    def _check_access(self, session: Session, principal: Principal, student_id: str,
                      school_id: str | None) -> list[str]:
        """NotFound unless the caller may read this student's reports: a verified parent,
        the student's own login, or the school's staff. Returns the guardian records a
        parent reads through (for the restriction check)."""
        guardians: list[str] = []
        if principal.role == "school_admin":
            allowed = school_id is not None and principal.in_school(school_id)
        elif principal.role == "parent":
            guardians = list(session.execute(sa.select(parent_access.c.guardian_id).where(
                parent_access.c.account_id == principal.account_id,
                parent_access.c.student_id == student_id,
                parent_access.c.verified.is_(True))).scalars())
            allowed = bool(guardians)
        elif principal.role == "student":
            allowed = session.execute(sa.select(student_accounts.c.account_id).where(
                student_accounts.c.account_id == principal.account_id,
                student_accounts.c.student_id == student_id)).first() is not None
        else:
            allowed = False
        if not allowed:
            raise NotFound()
        return guardians

    def _check_restriction(self, session: Session, student_id: str, guardians: list[str],
                           school_id: str | None) -> None:
        """Restricted (kept, not shown) when the student is, or every link the parent
        reads through (restricted by the student's school)."""
        if self.participant.is_restricted(session, "student", student_id, school_id):
            raise Restricted()
        if guardians and all(self.participant.is_restricted(session, "guardian", g,
                                                            school_id)
                             for g in guardians):
            raise Restricted()

    # --- publishing ---------------------------------------------------------------------
    def publish(self, session: Session, school_id: str, period: str, title: str,
                visible_from: dt.datetime | None) -> int:
        """One snapshot per student with data in the period; announced now or when due."""
        now = self.clock()
        if visible_from is not None and visible_from < now - EMBARGO_SLACK:
            raise EmbargoInThePast()
        visible_from = visible_from or now
        # As a data event (an erasure there waits for the snapshots, or they for it).
        lock_school_data(session, [school_id], shared=True)
        ids = set(session.execute(sa.select(attainment.c.student_id).where(
            attainment.c.school_id == school_id, attainment.c.period == period)).scalars())
        ids |= set(session.execute(sa.select(characteristics.c.student_id).where(
            characteristics.c.school_id == school_id,
            characteristics.c.period == period)).scalars())
        advisory_lock(session, f"publish:{school_id}:{period}")  # versions stay distinct
        # No new processing of a restricted student's data: no snapshot while restricted.
        ids = {i for i in ids if not self.erased(session, "student", i, school_id)
               and not self.participant.is_restricted(session, "student", i, school_id)}
        if not ids:
            return 0
        contents = self.snapshots(session, school_id, period, sorted(ids))
        versions = dict(session.execute(
            sa.select(reports.c.student_id, sa.func.max(reports.c.version)).where(
                reports.c.school_id == school_id, reports.c.period == period)
            .group_by(reports.c.student_id)).all())
        rows = []
        for sid in sorted(ids):
            report_id = str(uuid.uuid4())
            rows.append({"id": report_id, "school_id": school_id, "student_id": sid,
                         "period": period, "title": title,
                         "version": versions.get(sid, 0) + 1, "published_at": now,
                         "visible_from": visible_from, "announced": False,
                         "content": contents[sid],
                         "body": schemas.report_body(report_id, period, title, now,
                                                     contents[sid])})
        session.execute(reports.insert(), rows)
        announced = self.announce_due(session)
        log.info("reports published school_id=%s count=%d announced=%d", school_id,
                 len(rows), announced)
        return len(rows)

    def snapshots(self, session: Session, school_id: str, period: str,
                  student_ids: Sequence[str]) -> dict[str, domain.Row]:
        """Each student's report content from the data held now (publish, correct)."""
        class_rows = {r.class_id: {"name": r.name, "subject": r.subject} for r in
                      session.execute(sa.select(classes).where(
                          classes.c.school_id == school_id)).all()}
        teachers: dict[str, list[domain.Row]] = {}
        for r in session.execute(
                sa.select(class_teachers.c.class_id, staff.c.staff_id, staff.c.name)
                .join(staff, staff.c.staff_id == class_teachers.c.staff_id)
                .where(class_teachers.c.school_id == school_id)
                .order_by(staff.c.name)).all():
            teachers.setdefault(r.class_id, []).append({"id": r.staff_id, "name": r.name})
        people = {r.student_id: r for r in session.execute(sa.select(students).where(
            students.c.school_id == school_id)).all()}
        marks: dict[str, list[domain.Row]] = {}
        for m in session.execute(sa.select(attainment).where(
                attainment.c.school_id == school_id,
                attainment.c.period == period)).mappings():
            marks.setdefault(m["student_id"], []).append(dict(m))
        traits: dict[str, list[domain.Row]] = {}
        for m in session.execute(sa.select(characteristics).where(
                characteristics.c.school_id == school_id,
                characteristics.c.period == period)).mappings():
            traits.setdefault(m["student_id"], []).append(dict(m))
        out: dict[str, domain.Row] = {}
        for sid in student_ids:
            person = people.get(sid)
            out[sid] = domain.build_report(
                {"id": sid, "name": person.name if person else None,
                 "form_group": person.form_group if person else None,
                 "year_group": person.year_group if person else None},
                class_rows, teachers, marks.get(sid, []), traits.get(sid, []))
        return out

    def announce_due(self, session: Session) -> int:
        """ReportPublished for every report whose embargo has passed (once each)."""
        now = self.clock()
        due = session.execute(sa.select(reports.c.id, reports.c.school_id,
                                        reports.c.student_id, reports.c.period,
                                        reports.c.title, reports.c.published_at)
                              .where(reports.c.announced.is_(False),
                                     *shown_to_readers(now))
                              .with_for_update(skip_locked=True)).all()
        if not due:
            return 0
        session.execute(reports.update().where(among(reports.c.id, [r.id for r in due]))
                        .values(announced=True))
        names = dict(session.execute(sa.select(students.c.student_id, students.c.name).where(
            among(students.c.student_id, sorted({r.student_id for r in due})))).all())
        for r in due:  # the mail names the child (notifications holds no student names)
            self.outbox.add(session, "ReportPublished", {
                "report_id": r.id, "student_id": r.student_id, "period": r.period,
                "title": r.title, "published_at": r.published_at,
                "student_name": names.get(r.student_id)}, school_id=r.school_id)
        return len(due)

    # --- reading --------------------------------------------------------------------------
    def list_reports(self, session: Session, principal: Principal, student_id: str,
                     after: str | None, limit: int) -> Page:
        school_id = self._school_of(session, student_id)
        guardians = self._check_access(session, principal, student_id, school_id)
        self._check_restriction(session, student_id, guardians, school_id)
        shown = [reports.c.student_id == student_id]
        if principal.role != "school_admin":
            shown += shown_to_readers(self.clock())
        else:
            shown.append(reports.c.replaced_by.is_(None))
        query = sa.select(reports.c.id, reports.c.period, reports.c.title,
                          reports.c.published_at, reports.c.updated_at,
                          reports.c.withdrawn_at).where(*shown)
        newest_first = [Key(reports.c.published_at, descending=True), Key(reports.c.id)]
        # A cursor that is not there (any more): nothing after it.
        return keyset_page(session, query, newest_first, after, limit, missing="empty",
                           position=sa.select(reports.c.published_at).where(
                               reports.c.id == after, *shown)).map(
            lambda r: {"id": r.id, "period": r.period, "title": r.title,
                       "published_at": r.published_at, "updated_at": r.updated_at,
                       "withdrawn_at": r.withdrawn_at})

    def read_report(self, reader: OneRowReader, principal: Principal, report_id: str) -> str:
        """The report's answer (JSON text), in one statement (reader.OneRowReader): the
        report by primary key with the caller's way in and the restrictions beside it.
        NotFound when it is not there, not this caller's or (for parents and students) not
        visible yet; then Restricted, as _check_access and _check_restriction judge."""
        row = reader.first(READ_REPORT.get(principal.role, READ_REPORT["nobody"]), {
            "report_id": report_id, "account_id": principal.account_id})
        if row is None:
            raise NotFound()
        if principal.role == "school_admin":
            allowed = principal.in_school(row.school_id)
        else:
            allowed = row.way_in is not None  # a parent's verified links, or the student's own
        if not allowed:
            raise NotFound()
        if principal.role != "school_admin" and not _shown(row, self.clock()):
            raise NotFound()
        if row.student_restricted or row.way_in == RESTRICTED:  # every link restricted
            raise Restricted()
        body: str | None = row.body
        if body is not None:
            return body
        return schemas.report_body(report_id, row.period, row.title, row.published_at,
                                   row.content, row.updated_at)  # before bodies were kept

    def progress(self, session: Session, principal: Principal, student_id: str
                 ) -> dict[str, Any]:
        """Each subject's grade against target in every report of the school year the
        caller may see, what changed since the previous one, attendance (progress.py)."""
        school_id = self._school_of(session, student_id)
        guardians = self._check_access(session, principal, student_id, school_id)
        self._check_restriction(session, student_id, guardians, school_id)
        shown = [reports.c.student_id == student_id]
        if principal.role != "school_admin":
            shown += shown_to_readers(self.clock())
        else:
            shown += [reports.c.replaced_by.is_(None), reports.c.withdrawn_at.is_(None)]
        rows = session.execute(sa.select(reports.c.id, reports.c.period, reports.c.title,
                                         reports.c.published_at, reports.c.content)
                               .where(*shown)).mappings().all()
        return {"student_id": student_id, **progress.progress([dict(r) for r in rows])}

    def _school_of(self, session: Session, student_id: str) -> str | None:
        school = session.execute(sa.select(students.c.school_id).where(
            students.c.student_id == student_id)).scalar()
        if school is None:
            school = session.execute(sa.select(reports.c.school_id).where(
                reports.c.student_id == student_id).limit(1)).scalar()
        return school


def _shown(row: Row[Any], now: dt.datetime) -> bool:
    """As shown_to_readers: not embargoed (not there yet), neither corrected nor withdrawn
    (not there any more)."""
    return row.visible_from <= now and row.replaced_by is None and row.withdrawn_at is None


def _read_report_statements() -> dict[str, sa.Select[Any]]:
    """Per role, the one SELECT a report read makes (built once; the ids are bound). Its
    columns: the report's, `student_restricted`, and `way_in`, the caller's way to the
    student: NULL for none, OPEN, or (a parent whose every verified link is restricted)
    RESTRICTED; a parent's verified links are read once for both. `content` only comes
    when no body was kept."""
    r, pa, sa_accounts = reports, parent_access, student_accounts
    restrictions = plumbing.restrictions

    def restricted(subject_type: str, subject_id: sa.ColumnElement[str]
                   ) -> sa.Exists:  # by the report's school
        return sa.exists().where(restrictions.c.school_id == r.c.school_id,
                                 restrictions.c.subject_type == subject_type,
                                 restrictions.c.subject_id == subject_id
                                 ).correlate_except(restrictions)
    account: sa.BindParameter[str] = sa.bindparam("account_id")
    base = [r.c.school_id, r.c.visible_from, r.c.replaced_by, r.c.withdrawn_at, r.c.period,
            r.c.title, r.c.published_at, r.c.updated_at, r.c.body,
            sa.type_coerce(sa.case((r.c.body.is_(None), r.c.content)), r.c.content.type)
            .label("content"),
            restricted("student", r.c.student_id).label("student_restricted")]
    parent = sa.select(sa.func.max(sa.case((restricted("guardian", pa.c.guardian_id),
                                            RESTRICTED), else_=OPEN))
                       ).where(pa.c.account_id == account, pa.c.student_id == r.c.student_id,
                               pa.c.verified.is_(True)).scalar_subquery()
    student = sa.case((sa.exists().where(sa_accounts.c.account_id == account,
                                         sa_accounts.c.student_id == r.c.student_id), OPEN))
    way_in = {"parent": parent, "student": student, "school_admin": sa.literal(OPEN),
              "nobody": sa.null()}
    return {role: sa.select(*base, sa.type_coerce(column, sa.Integer).label("way_in"))
            .where(r.c.id == sa.bindparam("report_id")) for role, column in way_in.items()}


RESTRICTED, OPEN = 1, 2  # a report read's way_in: the greater wins among a parent's links
READ_REPORT = _read_report_statements()
