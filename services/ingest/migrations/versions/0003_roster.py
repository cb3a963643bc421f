"""Ingest: the roster held from OneRoster uploads, and the school's OneRoster settings.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('roster_rows',
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('file', sa.String(length=20), nullable=False),
    sa.Column('sourced_id', sa.String(length=100), nullable=False),
    sa.Column('modified_at', UtcDateTime(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('subject_id', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('school_id', 'file', 'sourced_id')
    )
    op.create_index(op.f('ix_roster_rows_subject_id'), 'roster_rows', ['subject_id'],
                    unique=False)
    op.create_table('roster_erased',
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('source_key', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('school_id', 'source_key')
    )
    op.create_table('roster_settings',
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('report_contact_roles', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('school_id')
    )


def downgrade() -> None:
    op.drop_table('roster_settings')
    op.drop_table('roster_erased')
    op.drop_index(op.f('ix_roster_rows_subject_id'), table_name='roster_rows')
    op.drop_table('roster_rows')
