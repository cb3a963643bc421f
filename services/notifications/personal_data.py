"""Which of the notifications service's tables and columns hold personal data, and of whom.

Notifications keeps its own copy of parents' and admins' names and emails, and a delivery
log by ids; a message's address and body are kept only until it is sent. Erasing a
guardian removes the copy, their link projection, and every stored message to them.
"""
from __future__ import annotations

import sqlalchemy as sa

from shared.rights import NOT_PERSONAL, DataDeclaration, Personal, RightsParticipant
from shared.rights import TableDeclaration as T

CONTACT = Personal("guardian", "sending mail")
MESSAGE = Personal("any", "a message waiting to be sent")
ACCOUNT_MAIL = ("invitation", "reset")  # their bodies carry a token

DECLARATION = DataDeclaration("notifications", tables=(
    T("guardians", {"guardian_id": NOT_PERSONAL, "school_id": NOT_PERSONAL,
                    "account_id": NOT_PERSONAL, "name": CONTACT, "email": CONTACT},
      subjects={"guardian": "guardian_id"}),
    T("guardian_accounts", {"guardian_id": NOT_PERSONAL, "account_id": NOT_PERSONAL},
      subjects={"guardian": "guardian_id"}, school_column=None),
    T("school_admins", {"account_id": NOT_PERSONAL, "school_id": NOT_PERSONAL,
                        "name": Personal("staff", "sending mail"),
                        "email": Personal("staff", "sending mail")},
      subjects={"staff": "account_id"}),
    T("verified_links", {"link_id": NOT_PERSONAL, "school_id": NOT_PERSONAL,
                         "account_id": NOT_PERSONAL, "guardian_id": NOT_PERSONAL,
                         "student_id": NOT_PERSONAL},
      subjects={"guardian": "guardian_id", "student": "student_id"}),
    T("preferences", {"account_id": NOT_PERSONAL, "updated_at": NOT_PERSONAL},
      school_column=None),
    T("deliveries", {"id": NOT_PERSONAL, "event_id": NOT_PERSONAL, "recipient": NOT_PERSONAL,
                     "school_id": NOT_PERSONAL, "kind": NOT_PERSONAL, "student_id": NOT_PERSONAL,
                     "guardian_id": NOT_PERSONAL, "to_address": MESSAGE,
                     "subject": NOT_PERSONAL, "body_text": MESSAGE, "body_html": MESSAGE,
                     "status": NOT_PERSONAL, "next_attempt_at": NOT_PERSONAL,
                     "last_error": NOT_PERSONAL, "created_at": NOT_PERSONAL,
                     "sent_at": NOT_PERSONAL},
      subjects={"student": "student_id", "guardian": "guardian_id"}),
    T("privacy_notices", {"version": NOT_PERSONAL, "effective_date": NOT_PERSONAL,
                          "announced_at": NOT_PERSONAL}, school_column=None),
))


class NotificationsParticipant(RightsParticipant):
    """Erasing a guardian removes this school's copy, their link projection and every
    message to them from this school; their login's preferences stay while the login still
    holds another school's record. Erasing a student cancels mails about them."""

    def export(self, session, subject):
        """A message waiting to be sent is the subject's data, except the body of account
        mail: it holds an invitation or reset link, a secret that an export never carries."""
        out = super().export(session, subject)
        for row in out.get("deliveries", []):
            if row["kind"] in ACCOUNT_MAIL:
                row.update(body_text=None, body_html=None)
        return out

    def offboard(self, session, school_id: str):
        from .models import guardian_accounts, guardians
        doomed = session.execute(sa.select(guardians.c.guardian_id).where(
            guardians.c.school_id == school_id)).scalars().all()
        counts = super().offboard(session, school_id)
        counts["guardian_accounts"] = session.execute(guardian_accounts.delete().where(
            guardian_accounts.c.guardian_id.in_(doomed))).rowcount if doomed else 0
        return counts

    def erase(self, session, subject):
        from .models import deliveries, guardians, preferences
        recipients, addresses = set(), set()
        if subject.type == "guardian":
            for row in session.execute(sa.select(guardians.c.account_id, guardians.c.email)
                                       .where(guardians.c.guardian_id == subject.id,
                                              guardians.c.school_id == subject.school_id)
                                       ).all():
                addresses.add(row.email)
                recipients.add(f"guardian:{subject.id}")
                if row.account_id:
                    recipients.add(f"account:{row.account_id}")
                    others = session.execute(sa.select(sa.func.count()).select_from(
                        guardians).where(guardians.c.account_id == row.account_id,
                                         guardians.c.guardian_id != subject.id)).scalar_one()
                    if not others:
                        session.execute(preferences.delete().where(
                            preferences.c.account_id == row.account_id))
        counts = super().erase(session, subject)
        this_school = deliveries.c.school_id == subject.school_id
        removed = 0
        if recipients:
            removed += session.execute(deliveries.delete().where(
                deliveries.c.recipient.in_(recipients), this_school)).rowcount
        if addresses:  # mail with no school (resets) to this address, blanked
            removed += session.execute(deliveries.update().where(
                deliveries.c.to_address.in_(addresses)).values(
                to_address=None, body_text=None, body_html=None,
                status=sa.case((deliveries.c.status == "pending", "skipped"),
                               else_=deliveries.c.status))).rowcount
        counts["deliveries"] = removed
        return counts
