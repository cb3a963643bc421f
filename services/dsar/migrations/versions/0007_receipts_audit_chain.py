"""dsar: each service's signed answer, the receipt of a completed request, and the audit
trail as a hash chain with its head (issue 30). Entries already there are chained in
their order, so the chain covers the whole trail from its first entry.

Revision ID: 0007
Revises: 0006
"""
import datetime as dt
import hashlib
import json

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def _hash(prev, row) -> str:
    """As shared/receipts/receipt.py entry_hash was written by this step (frozen here)."""
    at = row.at
    body = {"prev": prev, "seq": row.id, "request_id": row.request_id,
            "at": at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "step": row.step, "service": row.service, "actor": row.actor}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode("utf-8")).hexdigest()


def upgrade() -> None:
    op.add_column("requests", sa.Column("receipt", sa.Text, nullable=True))
    op.add_column("request_services", sa.Column("signed_answer", sa.Text, nullable=True))
    op.add_column("audit", sa.Column("prev_hash", sa.String(64), nullable=True))
    op.add_column("audit", sa.Column("hash", sa.String(64), nullable=True))
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False))
    bind = op.get_bind()
    audit = sa.table("audit", sa.column("id"), sa.column("request_id"), sa.column("at", UtcDateTime()),
                     sa.column("step"), sa.column("service"), sa.column("actor"),
                     sa.column("prev_hash"), sa.column("hash"))
    prev, last = GENESIS, None
    for row in bind.execute(sa.select(audit).order_by(audit.c.id)).all():
        digest = _hash(prev, row)
        bind.execute(audit.update().where(audit.c.id == row.id)
                     .values(prev_hash=prev, hash=digest))
        prev, last = digest, row.id
    if last is not None:
        bind.execute(head.insert().values(id=1, seq=last, hash=prev))


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_column("audit", "hash")
    op.drop_column("audit", "prev_hash")
    op.drop_column("request_services", "signed_answer")
    op.drop_column("requests", "receipt")
