"""Notifications: each student's name (StudentRecorded), for a mail about a student that
no event names them in: a copy of data released to the requester (issue 24).

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "student_names",
        sa.Column("student_id", sa.String(36), primary_key=True),
        sa.Column("school_id", sa.String(36), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("record_version", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("student_names")
