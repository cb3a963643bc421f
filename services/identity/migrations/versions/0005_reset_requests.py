"""Identity: password resets asked for, handled by the worker, so that the request does the
same work for an email with an account as for one without (issue 21).

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reset_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_reset_requests_requested_at"), "reset_requests",
                    ["requested_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_reset_requests_requested_at"), table_name="reset_requests")
    op.drop_table("reset_requests")
