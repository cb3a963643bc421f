"""Notifications: which login holds a guardian record, kept even when AccountActivated
arrives before the record.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('guardian_accounts',
    sa.Column('guardian_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('guardian_id')
    )
    with op.batch_alter_table('guardian_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guardian_accounts_account_id'), ['account_id'], unique=False)
    # Logins already attached to a recorded guardian.
    op.execute("INSERT INTO guardian_accounts (guardian_id, account_id) "
               "SELECT guardian_id, account_id FROM guardians WHERE account_id IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table('guardian_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guardian_accounts_account_id'))

    op.drop_table('guardian_accounts')
