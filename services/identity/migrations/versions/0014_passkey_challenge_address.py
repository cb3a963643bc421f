"""Identity: the (keyed hash of the) client address a passkey sign-in challenge was
handed to, so one address cannot hold more than a few open at once.

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("passkey_challenges") as batch:
        batch.add_column(sa.Column("address_hash", sa.String(length=64), nullable=True))
        batch.create_index("ix_passkey_challenges_address_hash", ["address_hash"])


def downgrade() -> None:
    with op.batch_alter_table("passkey_challenges") as batch:
        batch.drop_index("ix_passkey_challenges_address_hash")
        batch.drop_column("address_hash")
