"""Notifications: each login's language (LanguageChosen) and each school's default
language (SchoolActivated), so that every email is in the person's language (issue 29).

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "languages",
        sa.Column("account_id", sa.String(36), primary_key=True),
        sa.Column("language", sa.String(2), nullable=False),
    )
    # A school announced before languages were kept writes English first until its next
    # SchoolActivated says otherwise.
    with op.batch_alter_table("schools", schema=None) as batch_op:
        batch_op.add_column(sa.Column("default_language", sa.String(2), nullable=False,
                                      server_default="en"))


def downgrade() -> None:
    with op.batch_alter_table("schools", schema=None) as batch_op:
        batch_op.drop_column("default_language")
    op.drop_table("languages")
