"""Identity: the role moves from the login to each membership, and a membership is pending
until the person accepts that school's invitation (docs/decisions.md, "Identity").

Existing logins: an operator stays an operator (`kind`); everyone else's role is already on
their memberships, which are accepted when the login is active (the person accepted an
invitation) and pending otherwise. A school's people keep their names on the memberships
only. An unused invitation of a login not yet activated loses its school: issued when an
invitation was for the whole login, it accepts all of that login's pending memberships.
Refresh tokens gain the role they act in (NULL: the login's default), mail caps the school
an invitation was for.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


# Only ALTERs SQLite makes in place (3.35+ for DROP COLUMN): a batch "move and copy" of
# `accounts` would drop the old table, and with foreign keys on (they are, and a pragma
# cannot change inside the migration's transaction) that deletes every membership, token
# and invitation with it.
def upgrade() -> None:
    op.add_column("accounts", sa.Column("kind", sa.String(length=20), nullable=False,
                                        server_default="person"))
    op.execute("UPDATE accounts SET kind = 'operator' WHERE role = 'operator'")
    # The name moves to a nullable column kept for operators only.
    op.execute("ALTER TABLE accounts RENAME COLUMN name TO name_before_0003")
    op.add_column("accounts", sa.Column("name", sa.String(length=200), nullable=True))
    op.execute("UPDATE accounts SET name = name_before_0003 WHERE kind = 'operator'")
    op.add_column("memberships", sa.Column("status", sa.String(length=20), nullable=False,
                                           server_default="pending"))
    op.add_column("memberships", sa.Column("accepted_at", UtcDateTime(), nullable=True))
    op.execute("UPDATE memberships SET role = (SELECT a.role FROM accounts a "
               "WHERE a.id = memberships.account_id)")
    op.execute("UPDATE memberships SET status = 'accepted', accepted_at = (SELECT "
               "a.activated_at FROM accounts a WHERE a.id = memberships.account_id) "
               "WHERE account_id IN (SELECT id FROM accounts WHERE status = 'active')")
    # An unused invitation of a login not yet activated was, until now, for the whole
    # login: without a school, it accepts every pending membership, as it promised.
    op.execute("UPDATE invitations SET school_id = NULL WHERE used_at IS NULL AND "
               "account_id IN (SELECT id FROM accounts WHERE status = 'invited')")
    op.execute("ALTER TABLE accounts DROP COLUMN name_before_0003")
    op.execute("ALTER TABLE accounts DROP COLUMN role")
    op.add_column("refresh_tokens", sa.Column("role", sa.String(length=20), nullable=True))
    op.add_column("mail_sends", sa.Column("school_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE mail_sends DROP COLUMN school_id")
    op.execute("ALTER TABLE refresh_tokens DROP COLUMN role")
    # One role and one name per login again: the operator's, else its oldest membership's.
    op.add_column("accounts", sa.Column("role", sa.String(length=20), nullable=False,
                                        server_default="parent"))
    op.execute("UPDATE accounts SET role = CASE WHEN kind = 'operator' THEN 'operator' "
               "ELSE COALESCE((SELECT m.role FROM memberships m WHERE m.account_id = "
               "accounts.id ORDER BY m.created_at LIMIT 1), 'parent') END")
    op.execute("ALTER TABLE accounts RENAME COLUMN name TO name_after_0003")
    op.add_column("accounts", sa.Column("name", sa.String(length=200), nullable=False,
                                        server_default=""))
    op.execute("UPDATE accounts SET name = COALESCE(name_after_0003, (SELECT m.name FROM "
               "memberships m WHERE m.account_id = accounts.id ORDER BY m.created_at "
               "LIMIT 1), '')")
    op.execute("ALTER TABLE accounts DROP COLUMN name_after_0003")
    op.execute("ALTER TABLE accounts DROP COLUMN kind")
    op.execute("ALTER TABLE memberships DROP COLUMN accepted_at")
    op.execute("ALTER TABLE memberships DROP COLUMN status")
