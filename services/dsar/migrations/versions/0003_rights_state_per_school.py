"""The shared plumbing, version 2: tombstones, restrictions and objections keyed by school.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

from shared.tables import rights_state_per_school_v2, rights_state_per_school_v2_downgrade

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rights_state_per_school_v2(op)


def downgrade() -> None:
    rights_state_per_school_v2_downgrade(op)
