"""Identity: sign-in failures counted per (account, address) instead of per account, so a
lock stops only the address that earned it (issue 21); indexes for the sweeps of expired
throttling rows.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", UtcDateTime(), nullable=True),
        sa.Column("last_failure_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "address_hash"),
    )
    op.create_index(op.f("ix_sign_in_failures_last_failure_at"), "sign_in_failures",
                    ["last_failure_at"], unique=False)
    op.create_index(op.f("ix_address_failures_window_start"), "address_failures",
                    ["window_start"], unique=False)
    # The account-wide lock is gone: nothing may refuse the owner for another's guesses.
    op.drop_column("accounts", "failed_logins")
    op.drop_column("accounts", "locked_until")


def downgrade() -> None:
    op.add_column("accounts", sa.Column("locked_until", UtcDateTime(), nullable=True))
    op.add_column("accounts", sa.Column("failed_logins", sa.Integer(), nullable=False,
                                        server_default="0"))
    op.drop_index(op.f("ix_address_failures_window_start"), table_name="address_failures")
    op.drop_index(op.f("ix_sign_in_failures_last_failure_at"), table_name="sign_in_failures")
    op.drop_table("sign_in_failures")
