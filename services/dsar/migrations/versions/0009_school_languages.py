"""dsar: each school's default language (SchoolActivated, issue 29), the language of an
export's summary where the requester's own is not known.

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
    op.create_table("school_languages",
                    sa.Column("school_id", sa.String(length=36), nullable=False),
                    sa.Column("default_language", sa.String(length=2), nullable=False),
                    sa.PrimaryKeyConstraint("school_id"))


def downgrade() -> None:
    op.drop_table("school_languages")
