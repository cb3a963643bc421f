"""Notifications: which report a report mail was about, so a correction tells the parents
who were told of the original and a withdrawal stops mail not sent yet (issue 24).

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("report_id", sa.String(36), nullable=True))
        batch_op.create_index("ix_deliveries_report_id", ["report_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_report_id")
        batch_op.drop_column("report_id")
