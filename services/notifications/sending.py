"""The sender: due mail claimed a batch at a time and sent over one kept SMTP connection
(issue 27). A worker runs a sender per connection (PP_SMTP_CONNECTIONS): while one waits
for the relay's answers or the database, another sends.

A batch is one transaction. Its due rows are locked (another sender skips them); those a
restriction, erasure, objection or opt-out stopped since they were queued, or that the
hourly cap holds back, are marked skipped, decided in a few queries for the whole batch
(the cap counted once no other sender's batch to the same recipients is under way);
the rest go one after the other over the kept connection, and the ones the server accepted
are marked sent (address and body blanked) in one statement before the commit. A message
the server refused is retried with backoff, given up after a day, and the batch goes on;
a connection that went and did not come back ends the batch there: that message is
retried with backoff, the rows after it stay due, untouched.

The crash window: the server accepted messages and the process died, or lost its
database, before the batch's commit; those (at most a batch a connection) are sent once
more when the sender runs again. SMTP leaves the same window to every client: a message
whose answer to its end of data the connection lost is sent again.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, sessionmaker

from shared.backoff import Backoff
from shared.db import advisory_locks, among
from shared.rights.participant import Hold

from . import templates
from .domain import DeliveryStatus
from .mailer import Mailer, build_message, refused
from .mime import OutgoingMail
from .models import deliveries, preferences

if TYPE_CHECKING:
    from .service import Notifications

log = logging.getLogger("services.notifications.service")
REPORT_EMAILS = "report_emails"  # the processing a parent can object to
REPORT_KINDS = ("report", "report_updated")  # mail about a report (and its corrections)
OVER_CAP = "over the hourly cap for this recipient"
BLANK: dict[str, Any] = dict(to_address=None, body_text=None, body_html=None,
                             attachment=None)


def send_due(n: Notifications, sessions: sessionmaker[Session], mailer: Mailer,
             batch: int = 50) -> int:
    """Send up to `batch` due messages over `mailer` in one transaction; how many were
    handled (sent, skipped, failed for now or given up)."""
    now = n.clock()
    with sessions() as session, session.begin():
        rows = session.execute(
            sa.select(deliveries).where(deliveries.c.status == DeliveryStatus.PENDING,
                                        deliveries.c.next_attempt_at <= now)
            .order_by(deliveries.c.next_attempt_at).limit(batch)
            .with_for_update(skip_locked=True)).all()
        if not rows:
            return 0
        # The cap first: it may wait for another sender's batch, and holds committed
        # meanwhile (a restriction, an objection, an opt-out) are seen after it.
        sent_this_hour = _sent_this_hour(session, rows, now)
        skipped = stopped_since_queued(n, session, rows)
        accepted: list[str] = []
        failures: list[tuple[Row[Any], Exception]] = []
        for row in rows:
            if row.id in skipped:
                continue
            if row.kind in REPORT_KINDS and \
                    sent_this_hour[row.recipient] >= n.per_recipient_per_hour:
                skipped[row.id] = OVER_CAP
                continue
            try:
                mailer.send(_message(n, row))
            except Exception as exc:
                failures.append((row, exc))
                if refused(exc):
                    continue
                break  # the connection went: the rest stay due for the next batch
            accepted.append(row.id)
            sent_this_hour[row.recipient] += 1
        _record(n, session, now, accepted, skipped, failures)
    return len(accepted) + len(skipped) + len(failures)


def _message(n: Notifications, row: Row[Any]) -> OutgoingMail:
    attachment = (templates.CERTIFICATE_FILE, row.attachment) if row.attachment else None
    return build_message(n.settings, row.to_address, row.subject, row.body_text,
                         row.body_html, row.id, attachment,
                         templates.content_language(row.body_html))


def _record(n: Notifications, session: Session, now: dt.datetime, accepted: list[str],
            skipped: dict[str, str], failures: list[tuple[Row[Any], Exception]]) -> None:
    """The batch's outcome, in a statement per kind of outcome."""
    if accepted:  # sent: the log is kept by ids; the address and the body (tokens) go
        session.execute(deliveries.update().where(among(deliveries.c.id, accepted)).values(
            status=DeliveryStatus.SENT, sent_at=n.clock(),
            attempts=deliveries.c.attempts + 1, **BLANK))
        log.info("mails sent count=%d delivery_ids=%s", len(accepted), ",".join(accepted))
    if skipped:
        session.execute(deliveries.update().where(
            deliveries.c.id == sa.bindparam("b_id")).values(
            status=DeliveryStatus.SKIPPED, last_error=sa.bindparam("b_reason"),
            to_address=None, body_text=None, body_html=None),
            [{"b_id": k, "b_reason": v} for k, v in skipped.items()])
    for row, exc in failures:
        attempts = row.attempts + 1
        reason = f"{type(exc).__name__}"[:200]
        values: dict[str, Any]
        if now - row.created_at >= n.give_up_after:
            values = dict(status=DeliveryStatus.FAILED, **BLANK)
            log.error("mail given up delivery_id=%s kind=%s reason=%s", row.id, row.kind,
                      reason)
        else:
            delay = Backoff(n.retry_base_seconds, cap=300.0).seconds(attempts)
            values = dict(next_attempt_at=now + dt.timedelta(seconds=delay))
            log.warning("mail not sent delivery_id=%s attempt=%d reason=%s", row.id,
                        attempts, reason)
        session.execute(deliveries.update().where(deliveries.c.id == row.id).values(
            attempts=attempts, last_error=reason, **values))


def stopped_since_queued(n: Notifications, session: Session, rows: Sequence[Row[Any]]
                         ) -> dict[str, str]:
    """Report mail queued before a restriction, erasure, objection or opt-out of its
    student or guardian does not go: {delivery id: why}, a few queries per school."""
    by_school: dict[str | None, list[Row[Any]]] = {}
    for row in rows:
        if row.kind in REPORT_KINDS:
            by_school.setdefault(row.school_id, []).append(row)
    stopped: dict[str, str] = {}
    for school, group in by_school.items():
        held, opted_out = _held(n, session, school, group)
        for r in group:
            if ("student", r.student_id) in held or ("guardian", r.guardian_id) in held:
                stopped[r.id] = "restricted or erased"
            elif r.recipient in opted_out or ("objected", r.guardian_id) in held:
                stopped[r.id] = "opted out of report emails"
    return stopped


def _held(n: Notifications, session: Session, school: str | None, group: list[Row[Any]]
          ) -> tuple[set[tuple[str, str]], set[str]]:
    """Of one school's report mail: the (kind, id) of students and guardians erased or
    restricted there, and of guardians who objected ("objected"); the recipients who
    turned report emails off."""
    students = {r.student_id for r in group if r.student_id}
    guardians = {r.guardian_id for r in group if r.guardian_id}
    holds = n.participant.holds_among(session, school, [
        (Hold.ERASED, "student", students), (Hold.RESTRICTED, "student", students),
        (Hold.ERASED, "guardian", guardians), (Hold.RESTRICTED, "guardian", guardians),
        (Hold.OBJECTED, "guardian", guardians)], REPORT_EMAILS)
    held = {("objected" if hold == Hold.OBJECTED else kind, subject_id)
            for hold, kind, subject_id in holds}
    accounts = {r.recipient.removeprefix("account:") for r in group}
    opted_out = {f"account:{a}" for a in opted_out_of_report_emails(session, accounts)}
    return held, opted_out


def opted_out_of_report_emails(session: Session, account_ids: Collection[str]) -> set[str]:
    """The logins of `account_ids` that turned report emails off (at queueing, and again
    at sending: report_mail.py, stopped_since_queued)."""
    if not account_ids:
        return set()
    return set(session.execute(sa.select(preferences.c.account_id).where(
        among(preferences.c.account_id, sorted(account_ids)),
        preferences.c.report_emails.is_(False))).scalars())


def _sent_this_hour(session: Session, rows: Sequence[Row[Any]], now: dt.datetime
                    ) -> Counter[str]:
    """Mail sent to each recipient of the batch's report mail in the last hour (the cap
    counts every kind; account and security mail is capped by identity itself)."""
    recipients = sorted({r.recipient for r in rows if r.kind in REPORT_KINDS})
    if not recipients:
        return Counter()
    # Another sender (a worker's other connection, another worker) may be sending to one
    # of them, uncommitted: its batch is waited for, then counted (the count's statement
    # comes after the wait, so it sees that commit).
    advisory_locks(session, [f"notifications:cap:{r}" for r in recipients])
    # sent_at is set only when a mail is sent (a sent row stays sent): the condition is
    # ix_deliveries_recipient_sent's own. With a status condition beside it, the planner
    # took the due index on stale statistics (a table of pending mail analysed before
    # any was sent) and read every sent row each batch.
    return Counter(dict(session.execute(
        sa.select(deliveries.c.recipient, sa.func.count()).where(
            among(deliveries.c.recipient, recipients),
            deliveries.c.sent_at > now - dt.timedelta(hours=1))
        .group_by(deliveries.c.recipient)).all()))
