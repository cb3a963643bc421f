"""Notifications: a privacy notice version carries its text (issue 24), read at the link
its announcement mail gives.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Null for a version announced before texts were kept: announcing it again with its
    # text fills it in.
    with op.batch_alter_table("privacy_notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("text", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("privacy_notices", schema=None) as batch_op:
        batch_op.drop_column("text")
