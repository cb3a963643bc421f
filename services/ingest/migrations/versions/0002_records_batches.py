"""Ingest: record ids and the batch ledger.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('batches',
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('batch_id', sa.String(length=100), nullable=False),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('received_at', UtcDateTime(), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('school_id', 'batch_id')
    )
    op.create_table('records',
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('source_key', sa.String(length=64), nullable=False),
    sa.Column('record_type', sa.String(length=20), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('school_id', 'source_key'),
    sa.UniqueConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('records')
    op.drop_table('batches')
