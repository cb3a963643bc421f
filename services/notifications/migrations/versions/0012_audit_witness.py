"""Notifications: the witness of dsar's audit chain (issue 30): the newest head dsar signed
that extends the one held, and heads that arrived ahead of their turn.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_witness",
        sa.Column("chain", sa.String(40), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("checkpoint", sa.Text, nullable=False),
        sa.Column("witnessed_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "audit_checkpoints_ahead",
        sa.Column("chain", sa.String(40), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("prev", sa.String(64), primary_key=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("checkpoint", sa.Text, nullable=False),
        sa.Column("received_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints_ahead")
    op.drop_table("audit_witness")
