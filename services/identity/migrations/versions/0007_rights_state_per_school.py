"""The shared plumbing, step 3: tombstones, restrictions and objections keyed by school.

Revision ID: 0007
Revises: 0006
"""
from alembic import op

from shared.tables import rights_state_per_school_v3, rights_state_per_school_v3_downgrade

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rights_state_per_school_v3(op)


def downgrade() -> None:
    rights_state_per_school_v3_downgrade(op)
