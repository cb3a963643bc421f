"""The notifications service's own database: its copy of contacts, who is verified for
which student, preferences, and the delivery log (ids; bodies only until sent)."""
from __future__ import annotations

import sqlalchemy as sa

from shared.db import UtcDateTime
from shared.tables import define_plumbing_tables

metadata = sa.MetaData()
plumbing = define_plumbing_tables(metadata)

Id = sa.String(36)

# Parents as the school recorded them (GuardianRecorded), and their login once activated.
guardians = sa.Table(
    "guardians", metadata,
    sa.Column("guardian_id", Id, primary_key=True),
    sa.Column("school_id", Id, nullable=False, index=True),
    sa.Column("account_id", Id, nullable=True, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("record_version", sa.Integer, nullable=False),
)

# Which login holds a guardian record (AccountActivated): it may arrive before the
# record itself, whose row then takes its account from here.
guardian_accounts = sa.Table(
    "guardian_accounts", metadata,
    sa.Column("guardian_id", Id, primary_key=True),
    sa.Column("account_id", Id, nullable=False, index=True),
)

# School admins (from their InvitationIssued), to tell about locked links and notices.
school_admins = sa.Table(
    "school_admins", metadata,
    sa.Column("account_id", Id, primary_key=True),
    sa.Column("school_id", Id, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
)

# A student's login (their InvitationIssued, role student): the one address a student
# requester is told at when their request completes or is refused (issue 30). Only
# students the school gave a login; erased with the student, gone when the school
# removes them.
student_contacts = sa.Table(
    "student_contacts", metadata,
    sa.Column("student_id", Id, primary_key=True),
    sa.Column("school_id", Id, nullable=False, index=True),
    sa.Column("account_id", Id, nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
)

verified_links = sa.Table(
    "verified_links", metadata,
    sa.Column("link_id", Id, primary_key=True),
    sa.Column("school_id", Id, nullable=False),
    sa.Column("account_id", Id, nullable=False),
    sa.Column("guardian_id", Id, nullable=False, index=True),
    sa.Column("student_id", Id, nullable=False, index=True),
    sa.Column("verified", sa.Boolean, nullable=False),
    sa.Column("record_version", sa.Integer, nullable=False),
)

preferences = sa.Table(
    "preferences", metadata,
    sa.Column("account_id", Id, primary_key=True),
    sa.Column("report_emails", sa.Boolean, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# One row per message to send: the same event and recipient never get two.
deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("event_id", Id, nullable=False),
    sa.Column("recipient", sa.String(80), nullable=False),  # account:<id> | guardian:<id>
    sa.Column("school_id", Id, nullable=True, index=True),
    sa.Column("kind", sa.String(30), nullable=False),
    # Whom a report mail is about, so a restriction or erasure after queueing still
    # stops it at sending time.
    sa.Column("student_id", Id, nullable=True, index=True),
    sa.Column("guardian_id", Id, nullable=True, index=True),
    # The report a report mail is about: a correction mails those told of the original.
    sa.Column("report_id", Id, nullable=True, index=True),
    sa.Column("to_address", sa.String(320), nullable=True),  # blanked once sent
    sa.Column("subject", sa.String(200), nullable=True),
    sa.Column("body_text", sa.Text, nullable=True),          # blanked once sent
    sa.Column("body_html", sa.Text, nullable=True),          # blanked once sent
    # A file sent with the mail (the offboarding certificate), blanked once sent.
    sa.Column("attachment", sa.Text, nullable=True),
    sa.Column("status", sa.String(20), nullable=False),  # pending|held|sent|failed|skipped
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("last_error", sa.String(200), nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("sent_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("event_id", "recipient", name="uq_delivery_event_recipient"),
    # The sender's "next due" lookup, and the hourly cap's count per recipient.
    sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
    sa.Index("ix_deliveries_recipient_sent", "recipient", "sent_at"),
)

# Every privacy notice version the operator announced: shown to parents with the data map.
privacy_notices = sa.Table(
    "privacy_notices", metadata,
    sa.Column("version", sa.String(50), primary_key=True),
    sa.Column("effective_date", sa.Date, nullable=False),
    sa.Column("announced_at", UtcDateTime, nullable=False),
    sa.Column("text", sa.Text, nullable=True),  # null: announced before texts were kept
)

# The witness of dsar's audit chain (witness.py, issue 30): the newest head dsar signed
# that extends the one held, and heads that arrived ahead of their turn. Hashes and
# numbers only.
audit_witness = sa.Table(
    "audit_witness", metadata,
    sa.Column("chain", sa.String(40), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("checkpoint", sa.Text, nullable=False),  # dsar's JWS over seq, prev, hash
    sa.Column("witnessed_at", UtcDateTime, nullable=False),
)
audit_checkpoints_ahead = sa.Table(
    "audit_checkpoints_ahead", metadata,
    sa.Column("chain", sa.String(40), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("prev", sa.String(64), primary_key=True),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("checkpoint", sa.Text, nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
)

# Each school's name and office contact (SchoolActivated, sent again when they change):
# every mail says which school it is from.
schools = sa.Table(
    "schools", metadata,
    sa.Column("school_id", Id, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("office_email", sa.String(320), nullable=True),
    sa.Column("office_phone", sa.String(50), nullable=True),
    # The language the school writes to families in first (issue 29): an email to a
    # person whose own choice is not known is bilingual, this language first.
    sa.Column("default_language", sa.String(2), nullable=False, server_default="en"),
)

# Each student's name as the school recorded it (StudentRecorded): a mail about a student
# that no event names them in (a copy of data released, issue 24) still names them.
# Erased with the student; when the school removes them, only the ids and the removal's
# version stay (no name), so an older StudentRecorded arriving late changes nothing.
student_names = sa.Table(
    "student_names", metadata,
    sa.Column("student_id", Id, primary_key=True),
    sa.Column("school_id", Id, nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("record_version", sa.Integer, nullable=False),
)

# Each login's language as they chose it (LanguageChosen, the latest): every email to
# them is in it. No row: not chosen (their emails are bilingual). Erased with the login.
languages = sa.Table(
    "languages", metadata,
    sa.Column("account_id", Id, primary_key=True),
    sa.Column("language", sa.String(2), nullable=False),
)
