"""Identity: what rests in the database is keyed by identity's secret (issue 21).

Client addresses were stored as unkeyed SHA-256 hashes, which anyone holding the database
turns back into IPv4 addresses by hashing all 2^32 of them; from now on they are HMACs
under the deployment's secret (services/identity/secret.py). The old hashes cannot be
converted without the addresses, and are throttling state that lives for minutes to a
day: they are deleted (every address and pair starts afresh, once).

Signing keys were stored as plain PEM; the column is renamed `sealed_private_key`, and the
first identity process to start after this migration seals each key with the secret
(KeyRing.ensure). A downgrade renames the column back but leaves the keys sealed, which
older code cannot read: after one, rotate the key with the older code's
`python -m services.identity.keys rotate` against a fresh key file, or restore a backup.

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM sign_in_failures")
    op.execute("DELETE FROM address_failures")
    # A plain rename (PostgreSQL, SQLite 3.25+): no table copy.
    op.execute("ALTER TABLE signing_keys RENAME COLUMN private_pem TO sealed_private_key")


def downgrade() -> None:
    op.execute("ALTER TABLE signing_keys RENAME COLUMN sealed_private_key TO private_pem")
