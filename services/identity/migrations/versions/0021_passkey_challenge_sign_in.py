"""Identity: a passkey registration challenge names the sign-in that began it, the only
one that may finish it (the password or fresh second factor given when beginning proves
that sign-in, and ends with it). Open challenges have none and are refused when finished:
they last five minutes, and the person begins again.

Revision ID: 0021
Revises: 0020
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("passkey_challenges", recreate="never") as batch:
        batch.add_column(sa.Column("sign_in_id", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("passkey_challenges", recreate="never") as batch:
        batch.drop_column("sign_in_id")
