"""Which of the notifications service's tables and columns hold personal data, and of whom.

Notifications keeps its own copy of parents' and admins' names and emails (and a student
login's, from its invitation, to tell a student requester), and a delivery log by ids; a
message's address and body are kept only until it is sent. Erasing a guardian removes the
copy, their link projection, and every stored message to them; erasing a student, their
login's copy too.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.db import advisory_locks, affected, among, utcnow
from shared.erasure_ledger import offboarding_request_id
from shared.i18n import bilingual_order
from shared.messaging.consumer import Event
from shared.rights import NOT_PERSONAL, DataDeclaration, Personal, RightsParticipant, Subject
from shared.rights import TableDeclaration as T
from shared.rights.participant import lock_school_data

from . import languages, templates
from .domain import SCHOOL_ADMINS_LOCK, DeliveryStatus
from .mailer import Mailer

CONTACT = Personal("guardian", "sending mail")
# A student login's address: only to tell the student how a request they filed ended.
STUDENT_CONTACT = Personal("student", "telling a student how their request ended")
MESSAGE = Personal("any", "a message waiting to be sent")
# A mail's subject line names the child it is about ("A new report for Alex at …").
SENT = Personal("any", "the record of a mail sent")
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
    T("student_contacts", {"student_id": NOT_PERSONAL, "school_id": NOT_PERSONAL,
                           "account_id": NOT_PERSONAL,
                           "name": STUDENT_CONTACT, "email": STUDENT_CONTACT},
      subjects={"student": "student_id"}),
    T("verified_links", {"link_id": NOT_PERSONAL, "school_id": NOT_PERSONAL,
                         "account_id": NOT_PERSONAL, "guardian_id": NOT_PERSONAL,
                         "student_id": NOT_PERSONAL},
      subjects={"guardian": "guardian_id", "student": "student_id"}),
    T("preferences", {"account_id": NOT_PERSONAL, "updated_at": NOT_PERSONAL},
      school_column=None),
    T("deliveries", {"id": NOT_PERSONAL, "event_id": NOT_PERSONAL, "recipient": NOT_PERSONAL,
                     "school_id": NOT_PERSONAL, "kind": NOT_PERSONAL, "student_id": NOT_PERSONAL,
                     "guardian_id": NOT_PERSONAL, "report_id": NOT_PERSONAL,
                     "to_address": MESSAGE,
                     "subject": SENT, "body_text": MESSAGE, "body_html": MESSAGE,
                     "attachment": NOT_PERSONAL,
                     "status": NOT_PERSONAL, "next_attempt_at": NOT_PERSONAL,
                     "last_error": NOT_PERSONAL, "created_at": NOT_PERSONAL,
                     "sent_at": NOT_PERSONAL},
      subjects={"student": "student_id", "guardian": "guardian_id"}),
    T("audit_witness", {"chain": NOT_PERSONAL, "seq": NOT_PERSONAL, "hash": NOT_PERSONAL,
                        "checkpoint": NOT_PERSONAL, "witnessed_at": NOT_PERSONAL},
      school_column=None),
    T("audit_checkpoints_ahead", {"chain": NOT_PERSONAL, "seq": NOT_PERSONAL,
                                  "prev": NOT_PERSONAL, "hash": NOT_PERSONAL,
                                  "checkpoint": NOT_PERSONAL, "received_at": NOT_PERSONAL},
      school_column=None),
    T("privacy_notices", {"version": NOT_PERSONAL, "effective_date": NOT_PERSONAL,
                          "announced_at": NOT_PERSONAL, "text": NOT_PERSONAL},
      school_column=None),
    T("schools", {"school_id": NOT_PERSONAL, "name": NOT_PERSONAL,
                  "office_email": NOT_PERSONAL, "office_phone": NOT_PERSONAL,
                  "default_language": NOT_PERSONAL}),
    # A student's name, to name them in a mail no event names them in (issue 24).
    T("student_names", {"student_id": NOT_PERSONAL, "school_id": NOT_PERSONAL,
                        "name": Personal("student", "naming the student in mail about them")},
      subjects={"student": "student_id"}),
    # A login's language (issue 29): exported with the subject whose login it is (export
    # below), erased once nothing of the login is left here (_forget_login).
    T("languages", {"account_id": NOT_PERSONAL,
                    "language": Personal("any", "writing each email in the person's "
                                                "language")},
      school_column=None),
))


class NotificationsParticipant(RightsParticipant):
    """Erasing a guardian removes this school's copy, their link projection and every
    message to them from this school; their login's preferences stay while the login still
    holds another school's record. Erasing a student removes the mails about them and to
    their own login; erasing a member of staff, the mails to them. A message goes with its
    copy in the mail folder (embedded mode's `.eml` files), and a login left with nothing
    here loses its mails of no school too (password resets, privacy notices)."""

    # The service's Mailer, wired by bootstrap.build (its files go too).
    mailer: Mailer | None = None

    def export(self, session: Session, subject: Subject) -> dict[str, list[dict[str, Any]]]:
        """A message waiting to be sent is the subject's data, except what account mail
        says: its body holds an invitation or reset link, a secret that an export never
        carries, and its subject line tells a login that exists (at this school or any
        other) from a new one, which a school must not learn from its export before the
        person accepts its invitation. The export keeps that a mail of that kind went."""
        out = super().export(session, subject)
        for row in out.get("deliveries", []):
            if row["kind"] in ACCOUNT_MAIL:
                row.update(subject=None, body_text=None, body_html=None)
        out["languages"] = languages.export(session, self._logins(session, subject))
        return out

    @staticmethod
    def _logins(session: Session, subject: Subject) -> set[str]:
        """The logins of the subject here: a guardian record's, a student's (named by their
        invitation), a member of staff's own."""
        from .models import deliveries, guardians, student_contacts
        if subject.type == "staff":
            return {subject.id}
        if subject.type == "guardian":
            return set(session.execute(sa.select(guardians.c.account_id).where(
                guardians.c.guardian_id == subject.id, guardians.c.school_id ==
                subject.school_id, guardians.c.account_id.is_not(None))).scalars())
        if subject.type == "student":
            return set(session.execute(sa.select(student_contacts.c.account_id).where(
                student_contacts.c.student_id == subject.id)).scalars()).union(
                r.removeprefix("account:") for r in session.execute(
                    sa.select(deliveries.c.recipient).where(
                        deliveries.c.student_id == subject.id,
                        deliveries.c.kind == "invitation")).scalars())
        return set()

    # --- mail that must outlive the address it goes to (issue 30) ------------------------
    def on_erasure_requested(self, session: Session,
                             events: Sequence[Event[ev.ErasureRequested]]) -> None:
        for event in events:
            self._erase_one(session, event)

    def _erase_one(self, session: Session, event: Event[ev.ErasureRequested]) -> None:
        """A parent or student with a login who asked for their own erasure
        (`by_subject`): their address goes now, but they are owed word that it is done.
        The mail is written with the erasure and held (`held`, event_id the request's id,
        no school: an offboarding does not take it), then released by dsar's
        SubjectRequestClosed once every service has erased them (deleted, should it not be
        theirs to receive)."""
        from .models import guardians, student_contacts
        data = event.data
        subject = self._subject(data)
        self._lock_for_erasure(session, subject.school_id)  # before its contact is read
        table, key = {"guardian": (guardians, "guardian_id"),
                      "student": (student_contacts, "student_id")}.get(subject.type,
                                                                       (None, None))
        if table is None or key is None or not data.by_subject:
            super().on_erasure_requested(session, [event])
            return
        theirs = sa.and_(table.c[key] == subject.id, table.c.school_id == subject.school_id)
        contact = session.execute(sa.select(table.c.account_id, table.c.name,
                                            table.c.email).where(theirs)).first()
        school = self._school(session, subject.school_id)
        written_in = languages.for_login(session, contact.account_id if contact else None,
                                         school.default_language)
        super().on_erasure_requested(session, [event])
        if contact is None or contact.account_id is None or session.execute(
                sa.select(table.c[key]).where(theirs)).first():
            return  # no login to have asked, or the erasure failed (it is asked again)
        self._hold(session, data.subject_request_id, f"account:{contact.account_id}",
                   contact.email, templates.own_erasure_complete(contact.name, school,
                                                                 languages=written_in))

    def on_school_offboarded(self, session: Session,
                             events: Sequence[Event[ev.SchoolOffboarded]]) -> None:
        """The school's office is sent the offboarding certificate once every service has
        answered; its address is erased now, so the mail is written and held first
        (released with the certificate by SubjectRequestClosed)."""
        for event in events:
            school_id = event.data.school_id
            self._lock_for_erasure(session, school_id)  # before its office address is read
            school = self._school(session, school_id)
            super().on_school_offboarded(session, [event])
            if school.office_email and self.is_offboarded(session, school_id):
                self._hold(session, offboarding_request_id(event.envelope.id),
                           f"school:{school_id}", school.office_email,
                           templates.offboarding_certificate(
                               school, languages=bilingual_order(None, school.default_language)))

    @staticmethod
    def _lock_for_erasure(session: Session, school_id: str) -> None:
        """The school's data lock, exclusively (the base class takes it again: the same
        lock), then the admins' shared (domain.SCHOOL_ADMINS_LOCK), in that order."""
        lock_school_data(session, [school_id])
        advisory_locks(session, [SCHOOL_ADMINS_LOCK], shared=True)

    @staticmethod
    def _school(session: Session, school_id: str) -> templates.School:
        from .models import schools
        row = session.execute(sa.select(schools).where(
            schools.c.school_id == school_id)).first()
        return templates.School(row.name, row.office_email, row.office_phone,
                                row.default_language) if row else templates.School()

    @staticmethod
    def _hold(session: Session, request_id: str, recipient: str, to: str,
              message: templates.Message) -> None:
        from .models import deliveries
        if session.execute(sa.select(deliveries.c.id).where(
                deliveries.c.event_id == request_id,
                deliveries.c.recipient == recipient)).first():
            return
        now = utcnow()
        session.execute(deliveries.insert().values(
            id=str(uuid.uuid4()), event_id=request_id, recipient=recipient, school_id=None,
            kind="request_closed", to_address=to, subject=message.subject,
            body_text=message.text, body_html=message.html, status=DeliveryStatus.HELD,
            attempts=0, next_attempt_at=now, created_at=now))

    def offboard(self, session: Session, school_id: str) -> dict[str, int]:
        from .models import deliveries, guardian_accounts, guardians
        doomed = session.execute(sa.select(guardians.c.guardian_id).where(
            guardians.c.school_id == school_id)).scalars().all()
        mails = session.execute(sa.select(deliveries.c.id).where(
            deliveries.c.school_id == school_id)).scalars().all()
        logins = self._logins_at(session, school_id)
        counts = super().offboard(session, school_id)
        counts["guardian_accounts"] = affected(session.execute(guardian_accounts.delete().where(
            among(guardian_accounts.c.guardian_id, doomed)))) if doomed else 0
        counts["languages"] = sum(languages.forget(session, account_id)
                                  for account_id in sorted(logins)
                                  if not self._logins_at(session, None, account_id))
        self._forget_files(mails)
        return counts

    @staticmethod
    def _logins_at(session: Session, school_id: str | None, account_id: str | None = None
                   ) -> set[str]:
        """The logins this service holds a record of at the school (any school: None), or
        whether it holds `account_id`'s anywhere: a language goes with the last of them."""
        from .models import guardians, school_admins, student_contacts
        found: set[str] = set()
        for table in (guardians, school_admins, student_contacts):
            query = sa.select(table.c.account_id).where(table.c.account_id.is_not(None))
            if school_id is not None:
                query = query.where(table.c.school_id == school_id)
            if account_id is not None:
                query = query.where(table.c.account_id == account_id)
            found |= set(session.execute(query).scalars())
        return found

    def erase(self, session: Session, subject: Subject) -> dict[str, int]:
        """The subject's rows (the shared participant's), then every stored message to
        them or about them here, in named steps."""
        from .models import deliveries
        recipients, addresses, logins = self._recipients(session, subject)
        about = sa.or_(deliveries.c.student_id == subject.id,
                       deliveries.c.guardian_id == subject.id)
        mails = set(session.execute(sa.select(deliveries.c.id).where(
            deliveries.c.school_id == subject.school_id, sa.or_(
                about, among(deliveries.c.recipient, sorted(recipients))))).scalars())
        counts = super().erase(session, subject)
        removed = self._delete_mail_to(session, subject, recipients)
        blanked = self._blank_mail_to_addresses(session, subject, addresses)
        removed += len(blanked)
        mails |= blanked
        for account_id in sorted(logins):
            schoolless = self._forget_login(session, account_id)
            removed += len(schoolless)
            mails |= schoolless
        counts["deliveries"] = counts.get("deliveries", 0) + removed
        self._forget_files(mails)
        return counts

    def _recipients(self, session: Session, subject: Subject
                    ) -> tuple[set[str], set[str], set[str]]:
        """The subject's recipients here (`guardian:<id>`, `account:<id>`), the addresses
        their mail went to, and their logins. A guardian's login that holds no other
        guardian record loses its preferences."""
        from .models import deliveries, guardians, preferences
        recipients: set[str] = set()
        addresses: set[str] = set()
        logins: set[str] = set()
        if subject.type == "guardian":
            for row in session.execute(sa.select(guardians.c.account_id, guardians.c.email)
                                       .where(guardians.c.guardian_id == subject.id,
                                              guardians.c.school_id == subject.school_id)
                                       ).all():
                addresses.add(row.email)
                recipients.add(f"guardian:{subject.id}")
                if row.account_id:
                    recipients.add(f"account:{row.account_id}")
                    logins.add(row.account_id)
                    others = session.execute(sa.select(sa.func.count()).select_from(
                        guardians).where(guardians.c.account_id == row.account_id,
                                         guardians.c.guardian_id != subject.id)).scalar_one()
                    if not others:
                        session.execute(preferences.delete().where(
                            preferences.c.account_id == row.account_id))
        elif subject.type == "staff":  # an invited admin: the account is the subject
            recipients.add(f"account:{subject.id}")
            logins.add(subject.id)
        elif subject.type == "student":  # the student's own login, named by its invitation
            for recipient in session.execute(sa.select(deliveries.c.recipient).where(
                    deliveries.c.student_id == subject.id,
                    deliveries.c.school_id == subject.school_id,
                    deliveries.c.kind == "invitation")).scalars():
                recipients.add(recipient)
                logins.add(recipient.removeprefix("account:"))
        return recipients, addresses, logins

    @staticmethod
    def _delete_mail_to(session: Session, subject: Subject, recipients: set[str]) -> int:
        """This school's mail to the subject's recipients; how many."""
        from .models import deliveries
        if not recipients:
            return 0
        return affected(session.execute(deliveries.delete().where(
            among(deliveries.c.recipient, sorted(recipients)),
            deliveries.c.school_id == subject.school_id)))

    @staticmethod
    def _blank_mail_to_addresses(session: Session, subject: Subject,
                                 addresses: set[str]) -> set[str]:
        """Mail still waiting for the address: this school's, and mail of no school (a
        reset) unless another school records the address, blanked (skipped if pending).
        Another school's mail to the same person is that school's; so is the login's own
        while another school holds it. The ids blanked."""
        from .models import deliveries, guardians, school_admins
        if not addresses:
            return set()
        lowered = sorted({a.lower() for a in addresses})
        elsewhere = {e.lower() for table in (guardians, school_admins)
                     for e in session.execute(sa.select(table.c.email).where(
                         among(sa.func.lower(table.c.email, type_=sa.String), lowered),
                         table.c.school_id != subject.school_id)).scalars()}
        to = sa.func.lower(deliveries.c.to_address, type_=sa.String)
        blanked = set(session.execute(sa.select(deliveries.c.id).where(
            among(to, lowered), sa.or_(deliveries.c.school_id == subject.school_id, sa.and_(
                deliveries.c.school_id.is_(None),
                among(to, sorted(set(lowered) - elsewhere)))))).scalars())
        if blanked:
            session.execute(deliveries.update().where(
                among(deliveries.c.id, sorted(blanked))).values(
                to_address=None, body_text=None, body_html=None,
                status=sa.case((deliveries.c.status == DeliveryStatus.PENDING,
                                DeliveryStatus.SKIPPED),
                               else_=deliveries.c.status)))
        return blanked

    @staticmethod
    def _forget_login(session: Session, account_id: str) -> set[str]:
        """A login that no school mails here any more loses its mail of no school
        (password resets, privacy notices); the ids deleted."""
        from .models import deliveries, guardians, school_admins
        recipient = f"account:{account_id}"
        if session.execute(sa.select(deliveries.c.id).where(
                deliveries.c.recipient == recipient, deliveries.c.school_id.is_not(None))
                .limit(1)).first() or session.execute(sa.select(guardians.c.guardian_id)
                .where(guardians.c.account_id == account_id).limit(1)).first() \
                or session.execute(sa.select(school_admins.c.account_id).where(
                    school_admins.c.account_id == account_id).limit(1)).first():
            return set()  # another school still mails this login: its own mail stays
        languages.forget(session, account_id)
        schoolless = set(session.execute(sa.select(deliveries.c.id).where(
            deliveries.c.recipient == recipient,
            deliveries.c.school_id.is_(None))).scalars())
        if schoolless:
            session.execute(deliveries.delete().where(among(deliveries.c.id, sorted(schoolless))))
        return schoolless

    def _forget_files(self, delivery_ids: Iterable[str]) -> None:
        if self.mailer is not None and delivery_ids:
            self.mailer.forget(sorted(delivery_ids))
