"""Identity: a school-system client authorised for further schools of the same trust.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_schools",
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("school_id", sa.String(length=36), nullable=False),
        sa.Column("granted_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "school_id"))
    op.create_index(op.f("ix_client_schools_school_id"), "client_schools", ["school_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_client_schools_school_id"), table_name="client_schools")
    op.drop_table("client_schools")
