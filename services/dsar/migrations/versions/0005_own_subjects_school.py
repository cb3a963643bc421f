"""dsar: the school of each record a parent or student may file about, so that a parent
with children at two schools files at the right one (issue 24).

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("own_subjects", sa.Column("school_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    op.drop_column("own_subjects", "school_id")
