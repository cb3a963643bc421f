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

DECLARATION = DataDeclaration("notifications", tables=(
    T("guardians", {"guardian_id": NOT_PERSONAL, "school_id": NOT_PERSONAL,
                    "account_id": NOT_PERSONAL, "name": CONTACT, "email": CONTACT},
      subjects={"guardian": "guardian_id"}),
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
                     "school_id": NOT_PERSONAL, "kind": NOT_PERSONAL, "to_address": MESSAGE,
                     "subject": NOT_PERSONAL, "body_text": MESSAGE, "body_html": MESSAGE,
                     "status": NOT_PERSONAL, "next_attempt_at": NOT_PERSONAL,
                     "last_error": NOT_PERSONAL, "created_at": NOT_PERSONAL,
                     "sent_at": NOT_PERSONAL}),
))


class NotificationsParticipant(RightsParticipant):
    def erase(self, session, subject):
        from .models import deliveries, guardians, preferences
        recipients, addresses = set(), set()
        if subject.type == "guardian":
            for row in session.execute(sa.select(guardians.c.account_id, guardians.c.email)
                                       .where(guardians.c.guardian_id == subject.id)).all():
                addresses.add(row.email)
                recipients.add(f"guardian:{subject.id}")
                if row.account_id:
                    recipients.add(f"account:{row.account_id}")
                    session.execute(preferences.delete().where(
                        preferences.c.account_id == row.account_id))
        counts = super().erase(session, subject)
        removed = 0
        if recipients:
            removed += session.execute(deliveries.delete().where(
                deliveries.c.recipient.in_(recipients))).rowcount
        if addresses:
            removed += session.execute(deliveries.delete().where(
                deliveries.c.to_address.in_(addresses))).rowcount
        counts["deliveries"] = removed
        return counts
