"""Identity: the passkey that began a sign-in, so that removing the passkey ends the
sign-ins it began (a lost phone's). Sign-ins begun before this migration name none: a
removal ends them only at their refresh tokens' expiry, as before.

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refresh_tokens", recreate="never") as batch:
        batch.add_column(sa.Column("passkey_id", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens", recreate="never") as batch:
        batch.drop_column("passkey_id")
