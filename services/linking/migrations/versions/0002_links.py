"""Linking: students' names and dates of birth, guardians, the school's parent-child records, links and removed records.

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
    op.create_table('guardian_accounts',
    sa.Column('guardian_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('guardian_id')
    )
    with op.batch_alter_table('guardian_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guardian_accounts_account_id'), ['account_id'], unique=False)

    op.create_table('guardian_students',
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('guardian_id', sa.String(length=36), nullable=False),
    sa.Column('student_id', sa.String(length=36), nullable=False),
    sa.Column('relationship', sa.String(length=100), nullable=False),
    sa.Column('receives_reports', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('guardian_id', 'student_id')
    )
    op.create_table('guardians',
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('guardian_id', sa.String(length=36), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('guardian_id')
    )
    with op.batch_alter_table('guardians', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guardians_school_id'), ['school_id'], unique=False)

    op.create_table('links',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('guardian_id', sa.String(length=36), nullable=False),
    sa.Column('student_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('revoked_by', sa.String(length=10), nullable=True),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('changed_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('guardian_id', 'student_id', name='uq_link_guardian_student')
    )
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_links_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_links_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_links_student_id'), ['student_id'], unique=False)

    op.create_table('removed_records',
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('record_type', sa.String(length=20), nullable=False),
    sa.Column('record_id', sa.String(length=36), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('school_id', 'record_type', 'record_id')
    )
    op.create_table('students',
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('student_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('name_version', sa.Integer(), nullable=False),
    sa.Column('date_of_birth', sa.Date(), nullable=True),
    sa.Column('birth_date_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('student_id')
    )
    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_students_school_id'), ['school_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_students_school_id'))

    op.drop_table('students')
    op.drop_table('removed_records')
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_links_student_id'))
        batch_op.drop_index(batch_op.f('ix_links_school_id'))
        batch_op.drop_index(batch_op.f('ix_links_account_id'))

    op.drop_table('links')
    with op.batch_alter_table('guardians', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guardians_school_id'))

    op.drop_table('guardians')
    op.drop_table('guardian_students')
    with op.batch_alter_table('guardian_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guardian_accounts_account_id'))

    op.drop_table('guardian_accounts')
