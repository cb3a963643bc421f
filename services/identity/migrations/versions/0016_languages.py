"""Identity: each person's language and each school's default language (issue 29).

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:  # null: not chosen (emails bilingual)
        batch.add_column(sa.Column("language", sa.String(length=2), nullable=True))
    with op.batch_alter_table("schools") as batch:
        batch.add_column(sa.Column("default_language", sa.String(length=2), nullable=False,
                                   server_default="en"))


def downgrade() -> None:
    # Plain ALTER TABLE DROP COLUMN (SQLite 3.35+ too): recreating accounts in SQLite's batch
    # mode would drop the old table, and with it (ON DELETE CASCADE) every membership.
    with op.batch_alter_table("schools", recreate="never") as batch:
        batch.drop_column("default_language")
    with op.batch_alter_table("accounts", recreate="never") as batch:
        batch.drop_column("language")
