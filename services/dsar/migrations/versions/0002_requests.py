"""dsar: subject requests, per-service answers, asking events, export parts, audit, scheduled erasures of removed students, whom parents and students may file about.

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
    op.create_table('audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('at', UtcDateTime(), nullable=False),
    sa.Column('step', sa.String(length=40), nullable=False),
    sa.Column('service', sa.String(length=30), nullable=True),
    sa.Column('actor', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_request_id'), ['request_id'], unique=False)

    op.create_table('own_subjects',
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('subject_type', sa.String(length=20), nullable=False),
    sa.Column('subject_id', sa.String(length=36), nullable=False),
    sa.Column('via_link', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('account_id', 'subject_type', 'subject_id')
    )
    op.create_table('requests',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('subject_type', sa.String(length=20), nullable=True),
    sa.Column('subject_id', sa.String(length=36), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('filed_by', sa.String(length=36), nullable=True),
    sa.Column('filed_as', sa.String(length=20), nullable=True),
    sa.Column('received_at', UtcDateTime(), nullable=False),
    sa.Column('due_at', UtcDateTime(), nullable=False),
    sa.Column('extension_months', sa.Integer(), nullable=False),
    sa.Column('extension_reason', sa.String(length=500), nullable=True),
    sa.Column('paused_at', UtcDateTime(), nullable=True),
    sa.Column('refusal_reason', sa.String(length=500), nullable=True),
    sa.Column('completed_at', UtcDateTime(), nullable=True),
    sa.Column('export_expires_at', UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_requests_school_id'), ['school_id'], unique=False)

    op.create_table('scheduled_erasures',
    sa.Column('student_id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('erase_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('student_id')
    )
    with op.batch_alter_table('scheduled_erasures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduled_erasures_erase_at'), ['erase_at'], unique=False)

    op.create_table('export_parts',
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('service', sa.String(length=30), nullable=False),
    sa.Column('tables', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('request_id', 'service')
    )
    op.create_table('request_events',
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id')
    )
    with op.batch_alter_table('request_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_events_request_id'), ['request_id'], unique=False)

    op.create_table('request_services',
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('service', sa.String(length=30), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('asked_at', UtcDateTime(), nullable=False),
    sa.Column('asks', sa.Integer(), nullable=False),
    sa.Column('answered_at', UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('request_id', 'service')
    )


def downgrade() -> None:
    op.drop_table('request_services')
    with op.batch_alter_table('request_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_request_events_request_id'))

    op.drop_table('request_events')
    op.drop_table('export_parts')
    with op.batch_alter_table('scheduled_erasures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduled_erasures_erase_at'))

    op.drop_table('scheduled_erasures')
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_requests_school_id'))

    op.drop_table('requests')
    op.drop_table('own_subjects')
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_request_id'))

    op.drop_table('audit')
