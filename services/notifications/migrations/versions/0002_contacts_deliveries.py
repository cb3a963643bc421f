"""Notifications: contacts, verified links, preferences and the delivery log.

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
    op.create_table('deliveries',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('recipient', sa.String(length=80), nullable=False),
    sa.Column('school_id', sa.String(length=36), nullable=True),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('student_id', sa.String(length=36), nullable=True),
    sa.Column('guardian_id', sa.String(length=36), nullable=True),
    sa.Column('to_address', sa.String(length=320), nullable=True),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('body_text', sa.Text(), nullable=True),
    sa.Column('body_html', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', UtcDateTime(), nullable=False),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('sent_at', UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id', 'recipient', name='uq_delivery_event_recipient')
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_guardian_id'), ['guardian_id'], unique=False)
        batch_op.create_index('ix_deliveries_recipient_sent', ['recipient', 'sent_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_student_id'), ['student_id'], unique=False)

    op.create_table('guardians',
    sa.Column('guardian_id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('guardian_id')
    )
    with op.batch_alter_table('guardians', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guardians_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_guardians_school_id'), ['school_id'], unique=False)

    op.create_table('preferences',
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('report_emails', sa.Boolean(), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('account_id')
    )
    op.create_table('school_admins',
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.PrimaryKeyConstraint('account_id', 'school_id')
    )
    op.create_table('verified_links',
    sa.Column('link_id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('guardian_id', sa.String(length=36), nullable=False),
    sa.Column('student_id', sa.String(length=36), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('link_id')
    )
    with op.batch_alter_table('verified_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verified_links_guardian_id'), ['guardian_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_verified_links_student_id'), ['student_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('verified_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verified_links_student_id'))
        batch_op.drop_index(batch_op.f('ix_verified_links_guardian_id'))

    op.drop_table('verified_links')
    op.drop_table('school_admins')
    op.drop_table('preferences')
    with op.batch_alter_table('guardians', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guardians_school_id'))
        batch_op.drop_index(batch_op.f('ix_guardians_account_id'))

    op.drop_table('guardians')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_student_id'))
        batch_op.drop_index(batch_op.f('ix_deliveries_school_id'))
        batch_op.drop_index('ix_deliveries_recipient_sent')
        batch_op.drop_index(batch_op.f('ix_deliveries_guardian_id'))
        batch_op.drop_index('ix_deliveries_due')

    op.drop_table('deliveries')
