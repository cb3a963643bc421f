"""Identity: the passkey whose sign-in added a passkey, so that removing a lost phone's
passkey also removes the passkeys added while signed in with it (a thief's, added before
the owner could act). Passkeys added before this migration name none.

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("passkeys", recreate="never") as batch:
        batch.add_column(sa.Column("added_by", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("passkeys", recreate="never") as batch:
        batch.drop_column("added_by")
