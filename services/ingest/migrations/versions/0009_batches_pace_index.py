"""Ingest: the index the pace check reads the batch ledger by (a school's batches received
in the last seconds, oldest first; issue 27). The primary key (school_id, batch_id) found
the school's batches only: every push read and filtered the school's whole ledger.

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_batches_school_received", "batches", ["school_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_batches_school_received", table_name="batches")
