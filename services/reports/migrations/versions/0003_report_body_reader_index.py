"""Reports: each report's API answer kept beside its snapshot; a reader's links by account
and student in one index.

Reports published before this revision keep a NULL body and are rendered from their
snapshot when read, so the upgrade takes no time whatever the size of the archive.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=True))
    with op.batch_alter_table("parent_access", schema=None) as batch_op:
        # Its leading column answers what the account-only index did.
        batch_op.create_index("ix_parent_access_account_student",
                              ["account_id", "student_id"], unique=False)
        batch_op.drop_index("ix_parent_access_account_id")


def downgrade() -> None:
    with op.batch_alter_table("parent_access", schema=None) as batch_op:
        batch_op.create_index("ix_parent_access_account_id", ["account_id"], unique=False)
        batch_op.drop_index("ix_parent_access_account_student")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("body")
