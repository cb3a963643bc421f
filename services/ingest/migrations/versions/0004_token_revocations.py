"""The shared plumbing's step 2: token revocations (TokensRevoked), which every service
applies so that a signed-out access token stops working everywhere before it expires.

Revision ID: 0004
Revises: 0003
"""
from alembic import op

from shared.tables import create_plumbing_tables_v2, drop_plumbing_tables_v2

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing_tables_v2(op.get_bind())


def downgrade() -> None:
    drop_plumbing_tables_v2(op.get_bind())
