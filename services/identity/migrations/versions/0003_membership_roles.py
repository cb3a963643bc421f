"""Identity: the role moves from the login to each membership, and a membership is pending
until the person accepts that school's invitation (docs/decisions.md, "Identity").

Existing logins: an operator stays an operator (`kind`); everyone else's role is already on
their memberships, which are accepted when the login is active (the person accepted an
invitation) and pending otherwise. A school's people keep their names on the memberships
only. Refresh tokens gain the role they act in (NULL: the login's default), mail caps the
school an invitation was for.

Revision ID: 0003_membership_roles
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "0003_membership_roles"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=20), nullable=True))
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(sa.Column("status", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("accepted_at", UtcDateTime(), nullable=True))
    op.execute("UPDATE accounts SET kind = CASE WHEN role = 'operator' THEN 'operator' "
               "ELSE 'person' END")
    op.execute("UPDATE memberships SET role = (SELECT a.role FROM accounts a "
               "WHERE a.id = memberships.account_id)")
    op.execute("UPDATE memberships SET status = 'accepted', accepted_at = (SELECT "
               "a.activated_at FROM accounts a WHERE a.id = memberships.account_id) "
               "WHERE account_id IN (SELECT id FROM accounts WHERE status = 'active')")
    op.execute("UPDATE memberships SET status = 'pending' WHERE status IS NULL")
    op.execute("UPDATE accounts SET name = NULL WHERE kind = 'person'")
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column("kind", existing_type=sa.String(length=20), nullable=False)
        batch.alter_column("name", existing_type=sa.String(length=200), nullable=True)
        batch.drop_column("role")
    with op.batch_alter_table("memberships") as batch:
        batch.alter_column("status", existing_type=sa.String(length=20), nullable=False)
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.add_column(sa.Column("role", sa.String(length=20), nullable=True))
    with op.batch_alter_table("mail_sends") as batch:
        batch.add_column(sa.Column("school_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mail_sends") as batch:
        batch.drop_column("school_id")
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.drop_column("role")
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("role", sa.String(length=20), nullable=True))
    # One role per login again: the operator's, else its oldest membership's.
    op.execute("UPDATE accounts SET role = CASE WHEN kind = 'operator' THEN 'operator' "
               "ELSE (SELECT m.role FROM memberships m WHERE m.account_id = accounts.id "
               "ORDER BY m.created_at LIMIT 1) END")
    op.execute("UPDATE accounts SET name = COALESCE(name, (SELECT m.name FROM memberships m "
               "WHERE m.account_id = accounts.id ORDER BY m.created_at LIMIT 1), '')")
    op.execute("UPDATE accounts SET role = 'parent' WHERE role IS NULL")
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column("role", existing_type=sa.String(length=20), nullable=False)
        batch.alter_column("name", existing_type=sa.String(length=200), nullable=False)
        batch.drop_column("kind")
    with op.batch_alter_table("memberships") as batch:
        batch.drop_column("accepted_at")
        batch.drop_column("status")
