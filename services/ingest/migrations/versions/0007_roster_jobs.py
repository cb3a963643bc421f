"""Ingest: OneRoster uploads as jobs the worker applies (202 at once, a status to poll).

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roster_jobs",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("school_id", sa.String(36), nullable=False),
        sa.Column("schools", sa.JSON(), nullable=False),
        sa.Column("trust", sa.Boolean(), nullable=False),
        sa.Column("uploaded_by", sa.String(36), nullable=False),
        sa.Column("job_key", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("bundle", sa.LargeBinary(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("faults", sa.JSON(), nullable=True),
    )
    op.create_index(op.f("ix_roster_jobs_school_id"), "roster_jobs", ["school_id"])
    op.create_table(
        "roster_job_progress",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("school_id", sa.String(36), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("roster_job_progress")
    op.drop_index(op.f("ix_roster_jobs_school_id"), table_name="roster_jobs")
    op.drop_table("roster_jobs")
