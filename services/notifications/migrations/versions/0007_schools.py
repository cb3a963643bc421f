"""Notifications: each school's name and office contact (SchoolActivated), so that every
mail names the school it comes from (issue 24).

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('schools',
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('office_email', sa.String(length=320), nullable=True),
    sa.Column('office_phone', sa.String(length=50), nullable=True),
    sa.PrimaryKeyConstraint('school_id')
    )


def downgrade() -> None:
    op.drop_table('schools')
