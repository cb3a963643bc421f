"""The shared plumbing's step 2: token revocations (TokensRevoked), which every service
applies so that a signed-out access token stops working everywhere before it expires.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

from shared.tables import create_plumbing_tables_v2, drop_plumbing_tables_v2

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing_tables_v2(op.get_bind())


def downgrade() -> None:
    drop_plumbing_tables_v2(op.get_bind())
