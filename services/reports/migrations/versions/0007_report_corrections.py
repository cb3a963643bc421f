"""Reports: a published report can be corrected (a new snapshot replaces it: the old one
points at its replacement, the new one carries when it was updated) or withdrawn.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replaced_by", sa.String(36), nullable=True))
        batch_op.add_column(sa.Column("updated_at", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("withdrawn_at")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("replaced_by")
