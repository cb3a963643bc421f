"""Mail about reports, queued set-based (issue 27, the publication evening): a school's
publication is one ReportPublished per student, gathered by the consumer, so a batch of
them queues its mails with a few statements whatever its size (the verified parents of
every student in it; per school its record and who is restricted, objected or opted out;
then one insert), not a round of queries per event and parent. The sender then finds a
publication's mail due at once instead of a trickle."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.db import among
from shared.i18n import bilingual_order
from shared.messaging.envelope import Envelope
from shared.rights.participant import Hold

from . import templates
from .models import guardians, verified_links
from .models import languages as chosen_languages
from .sending import REPORT_EMAILS, opted_out_of_report_emails

if TYPE_CHECKING:
    from .service import Notifications

Item = tuple[Envelope, ev.ReportPublished | ev.ReportCorrected]
Parents = dict[str, list[Row[Any]]]  # student id -> its verified parents' rows


def queue_report_mails(n: Notifications, session: Session, items: Sequence[Item], kind: str,
                       template: Callable[..., templates.Message],
                       told: set[str] | None = None) -> None:
    """For each (event, data) about a report: a mail to every parent with a verified link
    to its student (of those in `told`, when given), skipped where the student or the
    parent is restricted, or the parent objected or turned report emails off."""
    from .service import Mail

    parents = _verified_parents(session, {data.student_id for _, data in items})
    by_school: dict[str | None, list[Item]] = {}
    for envelope, data in items:
        by_school.setdefault(envelope.school_id, []).append((envelope, data))
    mails: list[Mail] = []
    for school_id, group in by_school.items():
        school = n.school(session, school_id)
        stopped = _stopped(n, session, school_id, group, parents)
        for envelope, data in group:
            for row in parents.get(data.student_id, ()):
                recipient = f"account:{row.account_id}"
                if told is not None and recipient not in told:
                    continue
                mails.append(Mail(
                    envelope.id, recipient, school_id, kind, row.email, template(
                        n.settings.public_url, row.name, data.title, data.period,
                        data.report_id, data.student_name, school,
                        languages=bilingual_order(row.language, school.default_language)),
                    skip_reason=stopped(data.student_id, row), student_id=data.student_id,
                    guardian_id=row.guardian_id, report_id=data.report_id))
    n._queue_many(session, mails)


def _verified_parents(session: Session, student_ids: set[str]) -> Parents:
    """{student id: its verified parents (login, guardian record, name, email, language)}."""
    found: Parents = {}
    if not student_ids:
        return found
    query: sa.Select[Any] = (
        sa.select(verified_links.c.student_id, verified_links.c.account_id,
                  guardians.c.guardian_id, guardians.c.name, guardians.c.email,
                  chosen_languages.c.language)
        .join(guardians, guardians.c.guardian_id == verified_links.c.guardian_id)
        .outerjoin(chosen_languages, chosen_languages.c.account_id == verified_links.c.account_id)
        .where(among(verified_links.c.student_id, sorted(student_ids)),
               verified_links.c.verified.is_(True)))
    for row in session.execute(query):
        found.setdefault(row.student_id, []).append(row)
    return found


def _stopped(n: Notifications, session: Session, school_id: str | None, group: list[Item],
             parents: Parents) -> Callable[[str, Row[Any]], str | None]:
    """Why a mail of this school's group does not go (None: it goes), from two queries
    for the whole group: restricted students and parents and objections (holds_among),
    opt-outs."""
    students = {data.student_id for _, data in group}
    rows = [row for s in students for row in parents.get(s, ())]
    guardian_ids = {row.guardian_id for row in rows}
    holds = n.participant.holds_among(session, school_id, [
        (Hold.RESTRICTED, "student", students),
        (Hold.RESTRICTED, "guardian", guardian_ids),
        (Hold.OBJECTED, "guardian", guardian_ids)], REPORT_EMAILS)
    opted_out = opted_out_of_report_emails(session, {row.account_id for row in rows})

    def why(student_id: str, row: Row[Any]) -> str | None:
        if ((Hold.RESTRICTED, "student", student_id) in holds
                or (Hold.RESTRICTED, "guardian", row.guardian_id) in holds):
            return "restricted"
        if row.account_id in opted_out or (Hold.OBJECTED, "guardian", row.guardian_id) in holds:
            return "opted out of report emails"
        return None
    return why
