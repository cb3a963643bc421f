"""Identity: the school office's email and phone, shown to its parents wherever the app
says "contact the school" (issue 24).

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("schools", sa.Column("office_email", sa.String(length=320), nullable=True))
    op.add_column("schools", sa.Column("office_phone", sa.String(length=50), nullable=True))


def downgrade() -> None:
    op.drop_column("schools", "office_phone")
    op.drop_column("schools", "office_email")
