"""Ingest: the school's own OneRoster orgs (a district or trust export holds several).

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("roster_settings") as batch:
        batch.add_column(sa.Column("school_org_ids", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("roster_settings") as batch:
        batch.drop_column("school_org_ids")
