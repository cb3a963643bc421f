"""Notifications: the privacy notice's version history, shown in the web app.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('privacy_notices',
    sa.Column('version', sa.String(length=50), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=False),
    sa.Column('announced_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('version')
    )


def downgrade() -> None:
    op.drop_table('privacy_notices')
