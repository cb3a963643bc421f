"""Reports: projections of the school's data, who may read, published snapshots, removed records.

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
    op.create_table('attainment',
    sa.Column('attainment_id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('student_id', sa.String(length=36), nullable=False),
    sa.Column('class_id', sa.String(length=36), nullable=False),
    sa.Column('period', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('value', sa.String(length=50), nullable=False),
    sa.Column('out_of', sa.Float(), nullable=True),
    sa.Column('topic', sa.String(length=200), nullable=True),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('attainment_id')
    )
    with op.batch_alter_table('attainment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attainment_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_attainment_student_id'), ['student_id'], unique=False)

    op.create_table('characteristics',
    sa.Column('characteristic_id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('student_id', sa.String(length=36), nullable=False),
    sa.Column('class_id', sa.String(length=36), nullable=True),
    sa.Column('period', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('value', sa.String(length=50), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('characteristic_id')
    )
    with op.batch_alter_table('characteristics', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_characteristics_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_characteristics_student_id'), ['student_id'], unique=False)

    op.create_table('class_teachers',
    sa.Column('class_id', sa.String(length=36), nullable=False),
    sa.Column('staff_id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('class_id', 'staff_id')
    )
    with op.batch_alter_table('class_teachers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_class_teachers_school_id'), ['school_id'], unique=False)

    op.create_table('classes',
    sa.Column('class_id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('subject', sa.String(length=100), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('class_id')
    )
    with op.batch_alter_table('classes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_classes_school_id'), ['school_id'], unique=False)

    op.create_table('enrolments',
    sa.Column('class_id', sa.String(length=36), nullable=False),
    sa.Column('student_id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('class_id', 'student_id')
    )
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrolments_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_enrolments_student_id'), ['student_id'], unique=False)

    op.create_table('parent_access',
    sa.Column('link_id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('guardian_id', sa.String(length=36), nullable=False),
    sa.Column('student_id', sa.String(length=36), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('link_id')
    )
    with op.batch_alter_table('parent_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_parent_access_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_parent_access_guardian_id'), ['guardian_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_parent_access_student_id'), ['student_id'], unique=False)

    op.create_table('removed_records',
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('record_type', sa.String(length=20), nullable=False),
    sa.Column('record_id', sa.String(length=36), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('school_id', 'record_type', 'record_id')
    )
    op.create_table('reports',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('student_id', sa.String(length=36), nullable=False),
    sa.Column('period', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('published_at', UtcDateTime(), nullable=False),
    sa.Column('visible_from', UtcDateTime(), nullable=False),
    sa.Column('announced', sa.Boolean(), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reports_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_student_id'), ['student_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_visible_from'), ['visible_from'], unique=False)

    op.create_table('staff',
    sa.Column('staff_id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('record_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('staff_id')
    )
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_school_id'), ['school_id'], unique=False)

    op.create_table('student_accounts',
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('student_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('account_id', 'student_id')
    )
    with op.batch_alter_table('student_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_student_accounts_student_id'), ['student_id'], unique=False)

    op.create_table('students',
    sa.Column('student_id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('form_group', sa.String(length=50), nullable=True),
    sa.Column('year_group', sa.Integer(), nullable=True),
    sa.Column('name_version', sa.Integer(), nullable=False),
    sa.Column('placement_version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('student_id')
    )
    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_students_school_id'), ['school_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_students_school_id'))

    op.drop_table('students')
    with op.batch_alter_table('student_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_student_accounts_student_id'))

    op.drop_table('student_accounts')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_school_id'))

    op.drop_table('staff')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_visible_from'))
        batch_op.drop_index(batch_op.f('ix_reports_student_id'))
        batch_op.drop_index(batch_op.f('ix_reports_school_id'))

    op.drop_table('reports')
    op.drop_table('removed_records')
    with op.batch_alter_table('parent_access', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_parent_access_student_id'))
        batch_op.drop_index(batch_op.f('ix_parent_access_guardian_id'))
        batch_op.drop_index(batch_op.f('ix_parent_access_account_id'))

    op.drop_table('parent_access')
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrolments_student_id'))
        batch_op.drop_index(batch_op.f('ix_enrolments_school_id'))

    op.drop_table('enrolments')
    with op.batch_alter_table('classes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_classes_school_id'))

    op.drop_table('classes')
    with op.batch_alter_table('class_teachers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_class_teachers_school_id'))

    op.drop_table('class_teachers')
    with op.batch_alter_table('characteristics', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_characteristics_student_id'))
        batch_op.drop_index(batch_op.f('ix_characteristics_school_id'))

    op.drop_table('characteristics')
    with op.batch_alter_table('attainment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attainment_student_id'))
        batch_op.drop_index(batch_op.f('ix_attainment_school_id'))

    op.drop_table('attainment')
