"""Identity: when a sign-in (a refresh-token family) ends however often it is refreshed
(PP_SIGN_IN_MAX_DAYS after its password or passkey sign-in). Sign-ins begun before this
migration have none: their next refresh counts it from their first token's issue (the
rotated tokens are kept), not from then.

Revision ID: 0020
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refresh_tokens", recreate="never") as batch:
        batch.add_column(sa.Column("sign_in_ends_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens", recreate="never") as batch:
        batch.drop_column("sign_in_ends_at")
