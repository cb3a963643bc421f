"""Identity: a replacement TOTP key awaiting its first code, and the audit trail of second
factors reset by another admin or an operator (issue 25).

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("second_factors") as batch:
        batch.add_column(sa.Column("pending_sealed_totp_key", sa.Text(), nullable=True))
        batch.add_column(sa.Column("pending_created_at", UtcDateTime(), nullable=True))
    op.create_table(
        "second_factor_resets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("school_id", sa.String(length=36), nullable=True),
        sa.Column("actor_id", sa.String(length=36), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"))
    op.create_index(op.f("ix_second_factor_resets_account_id"), "second_factor_resets",
                    ["account_id"])
    op.create_index(op.f("ix_second_factor_resets_school_id"), "second_factor_resets",
                    ["school_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_second_factor_resets_school_id"),
                  table_name="second_factor_resets")
    op.drop_index(op.f("ix_second_factor_resets_account_id"),
                  table_name="second_factor_resets")
    op.drop_table("second_factor_resets")
    with op.batch_alter_table("second_factors") as batch:
        batch.drop_column("pending_created_at")
        batch.drop_column("pending_sealed_totp_key")
