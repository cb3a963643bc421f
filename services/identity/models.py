"""The identity service's own database: its tables and the shared plumbing tables.

One login (`accounts`) per person across schools and roles; each school's relation to that
person is a separate `memberships` row with its own role, pending until the person accepts
that school's invitation, so one school's erasure or offboarding removes only its own and
no school's records reach the login before the person's own act. Secrets (invitation, reset
and refresh tokens, client secrets) are stored as hashes only.
"""
from __future__ import annotations

import sqlalchemy as sa

from shared.db import UtcDateTime
from shared.removals import define_removed_records
from shared.tables import define_plumbing_tables

metadata = sa.MetaData()
plumbing = define_plumbing_tables(metadata)

Id = sa.String(36)

schools = sa.Table(
    "schools", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # active | offboarding
    sa.Column("student_accounts", sa.Boolean, nullable=False, default=False),
    # The school office, shown to its parents wherever the app says "contact the school".
    sa.Column("office_email", sa.String(320), nullable=True),
    sa.Column("office_phone", sa.String(50), nullable=True),
    # The controller's authorisation: its data protection assessment and who signed it off.
    # The language the school writes to families in first ("en" | "cy", issue 29).
    sa.Column("default_language", sa.String(2), nullable=False, default="en",
              server_default="en"),
    sa.Column("authorisation_reference", sa.String(200), nullable=True),
    sa.Column("authorised_by", sa.String(200), nullable=True),
    sa.Column("authorised_on", sa.Date, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("offboarded_at", UtcDateTime, nullable=True),
)

accounts = sa.Table(
    "accounts", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),  # lower-cased
    # An operator's name; a school's people have theirs on each membership (what that
    # school recorded), never on the login another school's answers could show.
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("kind", sa.String(20), nullable=False,  # operator | person
              server_default="person"),
    sa.Column("password_hash", sa.String(200), nullable=True),  # NULL until activated
    sa.Column("status", sa.String(20), nullable=False),  # invited | active (a password set)
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("activated_at", UtcDateTime, nullable=True),
    # The person's language ("en" | "cy"); null until they choose (issue 29).
    sa.Column("language", sa.String(2), nullable=True),
)

memberships = sa.Table(
    "memberships", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("school_id", Id, nullable=False, index=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("guardian_id", Id, nullable=True, index=True),
    sa.Column("student_id", Id, nullable=True, index=True),
    sa.Column("name", sa.String(200), nullable=False),  # as this school recorded it
    sa.Column("record_version", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # pending until the person accepts this school's invitation; only accepted ones count
    # (tokens, AccountActivated, exports).
    sa.Column("status", sa.String(20), nullable=False,  # pending | accepted
              server_default="pending"),
    sa.Column("accepted_at", UtcDateTime, nullable=True),
    # A school's guardian or student record belongs to one login (NULLs do not clash).
    sa.UniqueConstraint("school_id", "guardian_id", name="uq_membership_guardian"),
    sa.UniqueConstraint("school_id", "student_id", name="uq_membership_student"),
)

# Records the school removed, with the version of the removal, so a late or replayed older
# GuardianRecorded/StudentRecorded does not bring the login back.
removed_records = define_removed_records(metadata)

# Students' names, kept only at schools with student accounts, until the account request
# (which carries the email) arrives; the account's membership then holds the name.
students = sa.Table(
    "students", metadata,
    sa.Column("school_id", Id, primary_key=True),
    sa.Column("student_id", Id, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("record_version", sa.Integer, nullable=False),
)

# One school's invitation to one login: accepting it accepts that login's pending
# memberships at that school (and, for a new login, sets its password).
invitations = sa.Table(
    "invitations", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("school_id", Id, nullable=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime, nullable=True),
)

password_resets = sa.Table(
    "password_resets", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime, nullable=True),
)

refresh_tokens = sa.Table(
    "refresh_tokens", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("family_id", Id, nullable=False, index=True),
    # The role this sign-in acts in (a token is for one role); NULL: the login's default.
    sa.Column("role", sa.String(20), nullable=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("issued_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("rotated_at", UtcDateTime, nullable=True),  # exchanged for a newer one
    sa.Column("revoked_at", UtcDateTime, nullable=True),
    # When this sign-in last passed the second factor (NULL: the password alone); its
    # access tokens say so (`amr`, `otp_at`), and a refresh keeps it.
    sa.Column("otp_at", UtcDateTime, nullable=True),
    # How the sign-in began: NULL the password, "passkey" a passkey (both factors at once).
    sa.Column("method", sa.String(20), nullable=True),
    # The passkey that began the sign-in (NULL: a password): removing the passkey ends
    # every sign-in it began (a lost phone's), the one removing it too.
    sa.Column("passkey_id", Id, nullable=True),
    # When the sign-in ends however often it is refreshed (its first token's issue plus
    # PP_SIGN_IN_MAX_DAYS), kept through refreshes; NULL: begun before migration 0020
    # (then counted from the family's first issued_at).
    sa.Column("sign_in_ends_at", UtcDateTime, nullable=True),
)

# A login's TOTP second factor (RFC 6238): its key sealed with identity's secret
# (secret.py, bound to the account), pending until a first code confirms it; the time step
# of the last code accepted, so no code is accepted twice.
second_factors = sa.Table(
    "second_factors", metadata,
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("sealed_totp_key", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("confirmed_at", UtcDateTime, nullable=True),
    sa.Column("last_step", sa.BigInteger, nullable=True),
    # A replacement key the signed-in owner asked for (self re-enrolment), sealed as the
    # key is; the confirmed key keeps working until a code of this one confirms it.
    sa.Column("pending_sealed_totp_key", sa.Text, nullable=True),
    sa.Column("pending_created_at", UtcDateTime, nullable=True),
)

# The audit trail of second factors reset by someone else: whose (`account_id`), at which
# school (NULL: an operator's login), by whom and in which role. Ids only: the console
# names the school's people from their memberships.
second_factor_resets = sa.Table(
    "second_factor_resets", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("account_id", Id, nullable=False, index=True),
    sa.Column("school_id", Id, nullable=True, index=True),
    sa.Column("actor_id", Id, nullable=False),
    sa.Column("actor_role", sa.String(20), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)

# Single-use recovery codes of a login's second factor, argon2-hashed; used ones stay,
# marked, until the next enrolment replaces the set.
recovery_codes = sa.Table(
    "recovery_codes", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("code_hash", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime, nullable=True),
)

# A login's passkeys (WebAuthn credentials, services/identity/passkeys.py): the credential
# id (base64url) and COSE public key the authenticator made, the name the person gave it,
# and the authenticator's signature counter (a clone's lower count is refused).
# `staff_grade`: added while the login held a staff or operator role with a second factor
# passed within 15 minutes; only such a passkey counts as both factors for staff (one
# planted on a parent's login by the password alone must not sign in as the admin it
# becomes; rows from before 0017: false, docs/decisions.md).
passkeys = sa.Table(
    "passkeys", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("credential_id", sa.String(1400), nullable=False, unique=True),
    sa.Column("public_key", sa.LargeBinary, nullable=False),
    sa.Column("sign_count", sa.BigInteger, nullable=False),
    sa.Column("name", sa.String(60), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_used_at", UtcDateTime, nullable=True),
    sa.Column("staff_grade", sa.Boolean, nullable=False, server_default=sa.false()),
    # The passkey that began the sign-in adding this one (NULL: a password's sign-in):
    # removing it removes this one too (a thief's, added with a lost phone's sign-in).
    sa.Column("added_by", Id, nullable=True),
)

# Passkey challenges handed out and not yet answered: each is used once (deleted when
# answered, right or wrong) and expires. A registration's names its login; a sign-in's none.
passkey_challenges = sa.Table(
    "passkey_challenges", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("purpose", sa.String(20), nullable=False),  # register | sign_in
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              nullable=True, index=True),
    sa.Column("challenge", sa.String(100), nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False, index=True),
    # A sign-in's: the keyed hash of the address it was handed to (at most a few open
    # per address, passkey_rules.OPEN_SIGN_IN_CHALLENGES).
    sa.Column("address_hash", sa.String(64), nullable=True, index=True),
    # Adding a passkey: the sign-in that began it (refresh-token family), the only one
    # that may finish it (the password or fresh factor it gave proves nobody else).
    sa.Column("sign_in_id", Id, nullable=True),
)

clients = sa.Table(
    "clients", metadata,
    sa.Column("id", Id, primary_key=True),  # the client_id
    sa.Column("school_id", Id, nullable=False, index=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
)

# Further schools a client may act for (the operator grants it): one trust's system
# uploading one export for several of its schools.
client_schools = sa.Table(
    "client_schools", metadata,
    sa.Column("client_id", Id, primary_key=True),
    sa.Column("school_id", Id, primary_key=True, index=True),
    sa.Column("granted_at", UtcDateTime, nullable=False),
)

# Sign-in failures per client address, in fixed windows, across all accounts. Keyed by a
# keyed hash of the address (domain.address_digest): addresses are not kept, nor anything
# a reader of the database could turn back into one.
address_failures = sa.Table(
    "address_failures", metadata,
    sa.Column("address_hash", sa.String(64), primary_key=True),
    sa.Column("window_start", UtcDateTime, nullable=False, index=True),
    sa.Column("failures", sa.Integer, nullable=False),
)

# Sign-in failures against one account from one address (hashed) since that pair's last
# success, and until when that pair's attempts are refused unchecked. Never per account
# alone: a lock here stops only the address that earned it. Goes with the account.
sign_in_failures = sa.Table(
    "sign_in_failures", metadata,
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("address_hash", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("locked_until", UtcDateTime, nullable=True),
    sa.Column("last_failure_at", UtcDateTime, nullable=False, index=True),
)

# Password resets asked for, until the worker handles them (within a second or so): the
# request itself does the same work whether or not the email has an account.
reset_requests = sa.Table(
    "reset_requests", metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("requested_at", UtcDateTime, nullable=False, index=True),
)

# Emails sent per account (invitations, resets), for the hourly cap; invitations are
# counted per school, so one school's sends never show in another's answers.
mail_sends = sa.Table(
    "mail_sends", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("school_id", Id, nullable=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("sent_at", UtcDateTime, nullable=False),
)

# Token signing keys: the newest signs; older ones stay published until `retired_at`
# plus the overlap, so tokens they signed keep working until they expire. The private key
# is sealed with identity's secret (secret.py), which is never stored here.
signing_keys = sa.Table(
    "signing_keys", metadata,
    sa.Column("kid", sa.String(32), primary_key=True),
    sa.Column("sealed_private_key", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("retired_at", UtcDateTime, nullable=True),
)
