"""dsar: when the school released an access or portability export to the parent or
student who asked (issue 24); until then only the school downloads it.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("export_released_at", UtcDateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("export_released_at")
