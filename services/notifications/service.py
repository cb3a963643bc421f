"""Notifications: who gets which message, queued once per event and recipient, and a
sender that delivers them with retries (sending.py).

The one crash window: the SMTP server accepted messages and the process died before the
batch marked them sent; those are sent again when the sender runs again (at most once
more, sending.py). Every other repeat (a redelivered or duplicated event) finds its
delivery row and sends nothing.
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from shared.backoff import RECONNECT
from shared.config import Settings
from shared.contracts import typed as ev
from shared.db import advisory_lock, among, insert_many, upsert_versioned_many, utcnow
from shared.errors import Conflict, NotFound
from shared.i18n import bilingual_order
from shared.messaging.envelope import Envelope
from shared.rights import RightsParticipant

from . import languages, released, report_mail, sending, templates
from .domain import SCHOOL_ADMINS_LOCK, DeliveryStatus
from .mailer import Mailer
from .models import (deliveries, guardian_accounts, guardians, preferences, privacy_notices,
                     school_admins, schools, student_contacts, verified_links)

log = logging.getLogger(__name__)
REPORT_KINDS = sending.REPORT_KINDS
# Nothing due and no commit in this process queued mail: the sender looks again after this.
SENDER_POLL_SECONDS = 2.0
STOP_TICK_SECONDS = 0.2


class NoticeVersionPublished(Conflict):
    """A privacy notice version is published once, with its words and date."""
    code = "privacy_notice_version_published"
    answer = ("This version of the privacy notice was published with other words or "
              "another date; publish the change as a new version.")
    field = "version"


@dataclass(frozen=True)
class Mail:
    """A message to queue: one delivery row per event and recipient."""
    event_id: str
    recipient: str
    school_id: str | None
    kind: str
    to: str
    message: templates.Message
    skip_reason: str | None = None
    student_id: str | None = None
    guardian_id: str | None = None
    report_id: str | None = None

    def delivery(self, now: dt.datetime) -> dict[str, Any]:
        """Its delivery row: pending, or skipped (with the reason) and holding no address
        or body."""
        skipped = self.skip_reason is not None
        return dict(
            id=str(uuid.uuid4()), event_id=self.event_id, recipient=self.recipient,
            school_id=self.school_id, kind=self.kind, student_id=self.student_id,
            guardian_id=self.guardian_id, report_id=self.report_id,
            to_address=None if skipped else self.to, subject=self.message.subject,
            body_text=None if skipped else self.message.text,
            body_html=None if skipped else self.message.html,
            status=DeliveryStatus.SKIPPED if skipped else DeliveryStatus.PENDING,
            attempts=0, next_attempt_at=now, last_error=self.skip_reason, created_at=now)


def _newest_student_contacts(items: Sequence[tuple[str | None, ev.InvitationIssued]]
                             ) -> dict[str, dict[str, Any]]:
    """Each student record's contact row from the newest student invitation naming it."""
    newest: dict[str, dict[str, Any]] = {}
    for school_id, data in items:
        if data.role != "student" or not school_id:
            continue
        for student_id in sorted(set(data.student_ids or ())):
            newest[student_id] = dict(
                student_id=student_id, school_id=school_id, account_id=data.account_id,
                name=data.name, email=data.email)
    return newest


@dataclass
class Notifications:
    settings: Settings
    participant: RightsParticipant
    mailer: Mailer
    clock: Callable[[], dt.datetime] = utcnow
    # Retried with backoff (capped at 5 minutes) for a day before the message is given up.
    give_up_after: dt.timedelta = dt.timedelta(hours=24)
    retry_base_seconds: float = 2.0
    per_recipient_per_hour: int = 20
    # One per sender loop, each set once a transaction that queued mail commits: the
    # senders in this process look at once (issue 27); their poll (SENDER_POLL_SECONDS) is
    # the fallback for mail queued by another process (the web's privacy notices) and mail
    # due after a backoff.
    mail_queued: list[threading.Event] = field(default_factory=list)

    # --- projections ---------------------------------------------------------------------
    def record_guardians(self, session: Session,
                         items: Sequence[tuple[str, ev.GuardianRecorded]]) -> None:
        """GuardianRecorded events (school, data), in order: each contact upserted by
        version, with the login whose AccountActivated came first. Two statements for the
        whole set (the logins, then the upsert)."""
        ids = sorted({data.guardian_id for _, data in items})
        logins = dict(session.execute(sa.select(guardian_accounts.c.guardian_id,
                                                guardian_accounts.c.account_id).where(
            among(guardian_accounts.c.guardian_id, ids))).all()) if ids else {}
        rows: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
        for school_id, data in items:
            row = {"guardian_id": data.guardian_id, "school_id": school_id,
                   "email": data.email,
                   "name": f"{data.given_name} {data.family_name}",
                   "record_version": data.record_version}
            account_id = logins.get(data.guardian_id)
            if account_id:  # a contact without a login keeps the account it has
                row["account_id"] = account_id
            rows[bool(account_id)].append(row)
        for group in rows.values():  # each group holds the same columns; ids do not overlap
            upsert_versioned_many(session, guardians, "guardian_id", group)

    def remove_guardian(self, session: Session, school_id: str, data: ev.GuardianRemoved) -> None:
        held = session.execute(sa.select(guardians.c.record_version).where(
            guardians.c.guardian_id == data.guardian_id)).scalar()
        if held is not None and held > data.record_version:
            return  # a late removal: the school has added the contact back since
        session.execute(verified_links.delete().where(
            verified_links.c.guardian_id == data.guardian_id))
        session.execute(guardian_accounts.delete().where(
            guardian_accounts.c.guardian_id == data.guardian_id))
        session.execute(guardians.delete().where(
            guardians.c.guardian_id == data.guardian_id))

    def remove_student(self, session: Session, school_id: str, data: ev.StudentRemoved) -> None:
        """Not verified any more, the row kept with its version: a ParentVerified that
        arrives after the removal (older than linking's LinkRevoked) changes nothing. The
        student's own contact goes, as a removed guardian's does."""
        session.execute(verified_links.update().where(
            verified_links.c.student_id == data.student_id).values(verified=False))
        session.execute(student_contacts.delete().where(
            student_contacts.c.student_id == data.student_id,
            student_contacts.c.school_id == school_id))

    def record_student_contacts(self, session: Session,
                                items: Sequence[tuple[str | None, ev.InvitationIssued]]) -> None:
        """Student invitations' logins (InvitationIssued, role student), in order: each
        address and the name the school recorded, kept per student record so the student
        is told how a request they file ends (issue 30). The newest invitation wins (the
        school changed the email: the record moved to another login). Not for a student
        erased here already (the erasure may come first: rights travel apart). Three
        statements for the whole set (the erased, the delete, the insert)."""
        newest = _newest_student_contacts(items)
        erased = self.participant.erased_at_their_schools(
            session, "student", {s: row["school_id"] for s, row in newest.items()})
        rows = [row for s, row in sorted(newest.items()) if s not in erased]
        if not rows:
            return
        session.execute(student_contacts.delete().where(
            among(student_contacts.c.student_id, [row["student_id"] for row in rows])))
        insert_many(session, student_contacts, rows)

    def attach_account(self, session: Session, data: ev.AccountActivated,
                       school_id: str | None) -> None:
        held = set(data.guardian_ids)
        known = dict(session.execute(sa.select(guardians.c.guardian_id, guardians.c.school_id)
                                     .where(among(guardians.c.guardian_id, sorted(held)))).all())
        erased = self.participant.erased_at_their_schools(
            session, "guardian", {g: known.get(g, school_id) for g in held})
        for guardian_id in sorted(held - erased):
            session.execute(guardian_accounts.delete().where(
                guardian_accounts.c.guardian_id == guardian_id))
            session.execute(guardian_accounts.insert().values(
                guardian_id=guardian_id, account_id=data.account_id))
            session.execute(guardians.update().where(guardians.c.guardian_id == guardian_id)
                            .values(account_id=data.account_id))

    def link_changed(self, session: Session, school_id: str, data: ev.LinkEvent,
                     verified: bool) -> None:
        upsert_versioned_many(session, verified_links, "link_id", [{
            "link_id": data.link_id, "school_id": school_id, "account_id": data.account_id,
            "guardian_id": data.guardian_id, "student_id": data.student_id,
            "verified": verified, "record_version": data.record_version}])

    # --- messages --------------------------------------------------------------------------
    def _queue(self, session: Session, event_id: str, recipient: str, school_id: str | None,
               kind: str, to: str, message: templates.Message,
               skip_reason: str | None = None, student_id: str | None = None,
               guardian_id: str | None = None, report_id: str | None = None) -> None:
        self._queue_many(session, [Mail(event_id, recipient, school_id, kind, to, message,
                                        skip_reason, student_id, guardian_id, report_id)])

    def _queue_many(self, session: Session, mails: list[Mail]) -> None:
        """Each mail's delivery row, unless its event was handled for its recipient
        already (never twice: the first one stands): one insert, which the unique
        (event, recipient) skips where a row is there. The sender in this process looks
        once the transaction commits (`mail_queued`)."""
        if not mails:
            return
        now = self.clock()
        insert_many(session, deliveries, [m.delivery(now) for m in mails],
                    ("event_id", "recipient"))
        sa.event.listen(session, "after_commit", self._wake_sender, once=True)

    def _wake_sender(self, _session: Session) -> None:
        for queued in self.mail_queued:
            queued.set()

    def on_invitations(self, session: Session,
                       items: Sequence[tuple[Envelope, ev.InvitationIssued]]) -> None:
        """InvitationIssued events, in order: a student login's contact kept (for their
        requests), a school admin's for the school's mail; each invitation's mail queued
        (all in one insert)."""
        self.record_student_contacts(session, [(e.school_id, data) for e, data in items])
        schools_seen: dict[str | None, templates.School] = {}
        chosen = languages.chosen(session, (data.account_id for _, data in items))
        mails: list[Mail] = []
        for envelope, data in items:
            if data.role == "school_admin" and envelope.school_id:
                key = {"account_id": data.account_id, "school_id": envelope.school_id}
                session.execute(school_admins.delete().where(
                    *[school_admins.c[k] == v for k, v in key.items()]))
                session.execute(school_admins.insert().values(**key, name=data.name,
                                                              email=data.email))
            if envelope.school_id not in schools_seen:
                schools_seen[envelope.school_id] = self.school(session, envelope.school_id)
            # The mail belongs to the school's record the login is invited for, and goes
            # with its erasure (the first one's, should a login hold several there).
            school = schools_seen[envelope.school_id]
            mails.append(Mail(
                envelope.id, f"account:{data.account_id}", envelope.school_id,
                "invitation", data.email, templates.invitation(
                    self.settings.public_url, data.name, data.token, data.role,
                    data.existing_login, school,
                    languages=bilingual_order(chosen.get(data.account_id),
                                              school.default_language)),
                student_id=next(iter(data.student_ids or ()), None),
                guardian_id=next(iter(data.guardian_ids or ()), None)))
        self._queue_many(session, mails)

    def on_password_reset(self, session: Session, envelope: Envelope,
                          data: ev.PasswordResetRequested) -> None:
        # Account and security mail always goes: no preference or objection stops it.
        self._queue(session, envelope.id, f"account:{data.account_id}", None, "reset",
                    data.email, templates.password_reset(
                        self.settings.public_url, data.name, data.token,
                        languages=languages.for_mail(session, data.account_id)))

    def on_second_factor_changed(self, session: Session, envelope: Envelope,
                                 data: ev.SecondFactorChanged) -> None:
        """A factor added, replaced, removed or reset: the person is told, always (account
        and security mail), naming no secret."""
        self._queue(session, envelope.id, f"account:{data.account_id}", None,
                    "second_factor", data.email, templates.second_factor_changed(
                        self.settings.public_url, data.name, data.kind,
                        data.factor, data.by_role,
                        languages=languages.for_mail(session, data.account_id)))

    def on_reports_published(self, session: Session,
                             items: list[tuple[Envelope, ev.ReportPublished]]) -> None:
        """ReportPublished events, gathered (a school's publication arrives together): to
        every parent with a verified link to each student, once each, queued with a few
        statements for the whole set (report_mail.py)."""
        report_mail.queue_report_mails(self, session, items, "report",
                                       templates.report_published)

    def on_report_corrected(self, session: Session, envelope: Envelope,
                            data: ev.ReportCorrected) -> None:
        """ReportCorrected: if the school chose to, an "updated report" mail to the parents
        who were told of the report it replaces (and still read the child's reports)."""
        if not data.notify:
            return
        told = set(session.execute(sa.select(deliveries.c.recipient).where(
            deliveries.c.report_id == data.replaces,
            deliveries.c.kind.in_(REPORT_KINDS),
            deliveries.c.status.in_((DeliveryStatus.PENDING, DeliveryStatus.SENT))))
            .scalars())
        report_mail.queue_report_mails(self, session, [(envelope, data)], "report_updated",
                                       templates.report_updated, told=told)

    def on_report_withdrawn(self, session: Session, envelope: Envelope,
                            data: ev.ReportWithdrawn) -> None:
        """ReportWithdrawn: mail about the report not sent yet is not sent."""
        session.execute(deliveries.update().where(
            deliveries.c.report_id == data.report_id,
            deliveries.c.status == DeliveryStatus.PENDING).values(
            status=DeliveryStatus.SKIPPED, last_error="report withdrawn", to_address=None,
            body_text=None, body_html=None))

    def on_link_locked(self, session: Session, envelope: Envelope, data: ev.LinkLocked) -> None:
        school = self.school(session, envelope.school_id)
        for admin in session.execute(sa.select(school_admins).where(
                school_admins.c.school_id == envelope.school_id)).all():
            # It names the child: it goes with the child's erasure (student_id).
            self._queue(session, envelope.id, f"account:{admin.account_id}",
                        envelope.school_id, "link_locked", admin.email,
                        templates.link_locked(
                            self.settings.public_url, admin.name, data.student_id,
                            data.student_name, school, languages=languages.for_login(
                                session, admin.account_id, school.default_language)),
                        student_id=data.student_id)

    # --- what a requester is owed, and the offboarding certificate (issue 30) ----------
    def on_request_closed(self, session: Session, envelope: Envelope,
                          data: ev.SubjectRequestClosed) -> None:
        """SubjectRequestClosed: a mail held for this request (a parent's own erasure,
        a school's offboarding: written before their address was erased) goes now, or
        goes nowhere if it was not theirs to receive; otherwise the parent or student
        who filed is told from their contact here (a guardian's record, or a student's
        login as their invitation gave it)."""
        filed_by = data.filed_by if data.filed_as in ("parent", "student") else None
        requester = f"account:{filed_by}" if filed_by else None
        released = self._release_held(session, envelope.school_id, data, requester)
        if not filed_by or released or data.kind == "offboarding":
            return
        self._tell_requester(session, envelope.school_id, data, filed_by)

    def _release_held(self, session: Session, school_id: str | None,
                      data: ev.SubjectRequestClosed, requester: str | None) -> bool:
        """The held mails of this request: released if theirs (the certificate attached
        for the school's office), else deleted; whether the requester's was released."""
        held = session.execute(sa.select(deliveries.c.id, deliveries.c.recipient).where(
            deliveries.c.event_id == data.request_id,
            deliveries.c.status == DeliveryStatus.HELD)).all()
        completed = data.outcome == "completed"
        released = False
        for row in held:
            values: dict[str, Any] = {}
            if data.kind == "offboarding" and row.recipient == f"school:{school_id}":
                values["attachment"] = data.certificate
            theirs = completed and (row.recipient == requester or values.get("attachment"))
            if not theirs:  # not theirs to receive (the school filed it): the address goes
                session.execute(deliveries.delete().where(deliveries.c.id == row.id))
                self.mailer.forget([row.id])
                continue
            released = released or row.recipient == requester
            session.execute(deliveries.update().where(deliveries.c.id == row.id).values(
                status=DeliveryStatus.PENDING, next_attempt_at=self.clock(), **values))
        return released

    def _tell_requester(self, session: Session, school_id: str | None,
                        data: ev.SubjectRequestClosed, filed_by: str) -> None:
        if not released.school_open(self, session, school_id, data.request_id):
            return
        contact = released.requester_contact(session, school_id, filed_by, data.filed_as)
        if contact is None:
            log.info("no address for the requester request_id=%s filed_as=%s",
                     data.request_id, data.filed_as)
            return
        kind = "lift" if data.kind == "restriction" and data.lift else data.kind
        school = self.school(session, school_id)
        self._queue(session, data.request_id, f"account:{filed_by}", school_id,
                    "request_closed",
                    contact.email, templates.request_closed(
                        contact.name, kind, data.outcome, data.reason, school,
                        languages=languages.for_login(session, filed_by,
                                                      school.default_language)))

    # --- schools ---------------------------------------------------------------------------
    def record_school(self, session: Session, data: ev.SchoolActivated) -> None:
        """SchoolActivated: a new school, or its name or office contact changed."""
        session.execute(schools.delete().where(schools.c.school_id == data.school_id))
        session.execute(schools.insert().values(
            school_id=data.school_id, name=data.name,
            office_email=data.office_email, office_phone=data.office_phone,
            default_language=data.default_language or "en"))

    def school(self, session: Session, school_id: str | None) -> templates.School:
        row = session.execute(sa.select(schools).where(
            schools.c.school_id == school_id)).first() if school_id else None
        if row is None:
            return templates.School()
        return templates.School(row.name, row.office_email, row.office_phone,
                                row.default_language)

    def privacy_notice(self, session: Session, version: str, effective: dt.date,
                       text: str | None = None) -> int:
        """Tells every school's admins of a new privacy notice, once per version. A version
        is published once with its words (issue 24): the same again changes nothing,
        other words or another date under it are refused (a change is a new version)."""
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"privacy-notice/{version}"))
        known = session.execute(sa.select(privacy_notices).where(
            privacy_notices.c.version == version)).first()
        if known is None:
            session.execute(privacy_notices.insert().values(
                version=version, effective_date=effective, announced_at=self.clock(),
                text=text))
        elif known.effective_date != effective or (known.text is not None
                                                   and text != known.text):
            raise NoticeVersionPublished(version)
        elif known.text is None and text is not None:  # announced before texts were kept
            session.execute(privacy_notices.update().where(
                privacy_notices.c.version == version).values(text=text))
        advisory_lock(session, SCHOOL_ADMINS_LOCK)  # no admin erased meanwhile (domain.py)
        admins = {a.account_id: a for a in session.execute(sa.select(school_admins)).all()}
        for admin in admins.values():
            self._queue(session, event_id, f"account:{admin.account_id}", None,
                        "privacy_notice", admin.email, templates.privacy_notice(
                            self.settings.public_url, admin.name, version, effective,
                            languages=languages.for_mail(session, admin.account_id,
                                                     self.school(session, admin.school_id))))
        return len(admins)

    def privacy_notice_versions(self, session: Session) -> list[dict[str, Any]]:
        """Every announced version, the newest effective first."""
        rows = session.execute(sa.select(
            privacy_notices.c.version, privacy_notices.c.effective_date,
            privacy_notices.c.announced_at, privacy_notices.c.text.is_not(None).label(
                "has_text")).order_by(privacy_notices.c.effective_date.desc(),
                                      privacy_notices.c.version.desc())).all()
        return [{"version": r.version, "effective_date": r.effective_date,
                 "announced_at": r.announced_at, "has_text": bool(r.has_text)} for r in rows]

    def privacy_notice_version(self, session: Session, version: str) -> dict[str, Any]:
        """One version with its text (None for one announced before texts were kept)."""
        row = session.execute(sa.select(privacy_notices).where(
            privacy_notices.c.version == version)).first()
        if row is None:
            raise NotFound()
        return {"version": row.version, "effective_date": row.effective_date,
                "announced_at": row.announced_at, "has_text": row.text is not None,
                "text": row.text}

    def set_report_emails(self, session: Session, account_id: str, enabled: bool) -> None:
        session.execute(preferences.delete().where(preferences.c.account_id == account_id))
        session.execute(preferences.insert().values(account_id=account_id,
                                                    report_emails=enabled,
                                                    updated_at=self.clock()))

    def report_emails(self, session: Session, account_id: str) -> bool:
        choice = session.execute(sa.select(preferences.c.report_emails).where(
            preferences.c.account_id == account_id)).scalar()
        return choice is not False

    # --- sending (sending.py) -----------------------------------------------------------
    def send_due(self, sessions: sessionmaker[Session], batch: int | None = None,
                 mailer: Mailer | None = None) -> int:
        """Send up to `batch` due messages (the mailer's batch) over `mailer`'s one
        connection (the service's own by default), in one transaction; how many were
        handled (sent, skipped, failed for now, or given up)."""
        mailer = mailer or self.mailer
        return sending.send_due(self, sessions, mailer, batch or mailer.batch)

    def sender(self, sessions: sessionmaker[Session], mailer: Mailer | None = None
               ) -> Callable[[threading.Event], None]:
        """A sender loop over `mailer` (the service's own by default). A worker runs one
        per SMTP connection (bootstrap.senders): each claims its own batches, so while one
        waits for the server or the database another sends."""
        mailer = mailer or self.mailer
        queued = threading.Event()
        self.mail_queued.append(queued)

        def run(stop: threading.Event) -> None:
            failures = 0
            while not stop.is_set():
                queued.clear()  # a commit from now on wakes the wait below
                try:
                    if self.send_due(sessions, mailer=mailer):
                        failures = 0
                        continue
                except Exception:  # our database is away: wait and try again
                    failures += 1
                    log.warning("sender failed (failure %d)", failures,
                                exc_info=failures == 1)
                mailer.close()  # nothing due: the connection does not wait open
                if failures:
                    stop.wait(RECONNECT.seconds(failures))
                else:
                    await_mail(queued, stop)
            mailer.close()
        return run


def await_mail(queued: threading.Event, stop: threading.Event) -> None:
    """Until `queued` (mail queued here), `stop`, or SENDER_POLL_SECONDS; `stop` looked at
    every STOP_TICK_SECONDS (a wake-up with no query: the poll is what cost)."""
    deadline = time.monotonic() + SENDER_POLL_SECONDS
    while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
        if queued.wait(min(left, STOP_TICK_SECONDS)):
            return
