"""Identity: whether a passkey counts as both factors for staff (issue 25): added while
the login held a staff or operator role with a fresh second factor. Existing passkeys do
not (false): which of them were planted on a parent's login cannot be told from what is
stored (docs/decisions.md).

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("passkeys", recreate="never") as batch:
        batch.add_column(sa.Column("staff_grade", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("passkeys", recreate="never") as batch:
        batch.drop_column("staff_grade")
