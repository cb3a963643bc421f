"""The shared plumbing tables (outbox, inbox, dead letters, rights state).

Revision ID: 0001
Revises:
"""
from alembic import op

from shared.tables import create_plumbing_tables_v1, drop_plumbing_tables_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing_tables_v1(op.get_bind())


def downgrade() -> None:
    drop_plumbing_tables_v1(op.get_bind())
