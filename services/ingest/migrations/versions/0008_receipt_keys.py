"""The shared plumbing, step 4: the service's receipt signing keys (issue 30).

Revision ID: 0008
Revises: 0007
"""
from alembic import op

from shared.receipts.keys import create_receipt_keys, drop_receipt_keys

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_receipt_keys(op.get_bind())


def downgrade() -> None:
    drop_receipt_keys(op.get_bind())
