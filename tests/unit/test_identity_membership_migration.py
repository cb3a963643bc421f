"""Identity's migration 0006 on logins made before it (issue 21): an operator stays an
operator; everyone else's role is on their memberships, accepted when the login is active
(the person accepted an invitation) and pending otherwise; a school's names stay on its
memberships only. SQLite here; tests/integration/test_identity_migration_real.py runs the
same on PostgreSQL."""
from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from shared.db import make_engine

SPEC = importlib.import_module("services.identity.app").SPEC
SCHOOL = "00000000-0000-4000-8000-00000000000a"
NOW = "2026-01-05 10:00:00.000000"
ACCOUNTS = [  # id, email, name, role, status, activated_at
    ("00000000-0000-4000-8000-000000000001", "ops@example.org", "Operator", "operator",
     "active", NOW),
    ("00000000-0000-4000-8000-000000000002", "admin@example.org", "Ada Admin", "school_admin",
     "active", NOW),
    ("00000000-0000-4000-8000-000000000003", "parent@example.org", "Pat Parent", "parent",
     "active", NOW),
    ("00000000-0000-4000-8000-000000000004", "invited@example.org", "Ivy Invited", "parent",
     "invited", None),
]


def _migrate(engine: sa.Engine, revision: str, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(SPEC.migrations_dir))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def migrate_logins_made_before(engine: sa.Engine) -> None:
    """The identity database at 0002 with logins of each kind, then at head; checks what
    0006 made of them."""
    _migrate(engine, "0002")
    with engine.begin() as conn:
        for account_id, email, name, role, status, activated in ACCOUNTS:
            conn.execute(sa.text(
                "INSERT INTO accounts (id, email, name, role, status, created_at, "
                "activated_at, failed_logins) VALUES (:i, :e, :n, :r, :s, :c, :a, 0)"),
                {"i": account_id, "e": email, "n": name, "r": role, "s": status, "c": NOW,
                 "a": activated})
            if role != "operator":
                conn.execute(sa.text(
                    "INSERT INTO memberships (id, account_id, school_id, role, name, "
                    "record_version, created_at) VALUES (:m, :i, :s, :r, :n, 1, :c)"),
                    {"m": account_id.replace("-0000000000", "-1000000000"), "i": account_id,
                     "s": SCHOOL, "r": role, "n": name, "c": NOW})
        conn.execute(sa.text(  # the invited login's unused invitation, from school A
            "INSERT INTO invitations (id, account_id, school_id, token_hash, created_at, "
            "expires_at) VALUES (:i, :a, :s, :h, :c, :c)"), {
            "i": "00000000-0000-4000-8000-000000000099", "a": ACCOUNTS[3][0], "s": SCHOOL,
            "h": "0" * 64, "c": NOW})
    _migrate(engine, "head")
    assert count(engine, "memberships") == 3  # none lost on the way
    with engine.connect() as conn:  # for the whole login, as it was when issued
        assert conn.execute(sa.text("SELECT school_id FROM invitations")).all() == [(None,)]
    with engine.connect() as conn:
        accounts = {r.email: r for r in conn.execute(sa.text(
            "SELECT email, name, kind, status FROM accounts"))}
        memberships = {r.name: r for r in conn.execute(sa.text(
            "SELECT name, role, status, accepted_at FROM memberships"))}
    assert {e: (a.kind, a.name) for e, a in accounts.items()} == {
        "ops@example.org": ("operator", "Operator"), "admin@example.org": ("person", None),
        "parent@example.org": ("person", None), "invited@example.org": ("person", None)}
    assert {n: (m.role, m.status, m.accepted_at is not None)
            for n, m in memberships.items()} == {
        "Ada Admin": ("school_admin", "accepted", True),
        "Pat Parent": ("parent", "accepted", True),
        "Ivy Invited": ("parent", "pending", False)}
    _migrate(engine, "0002", down=True)  # and back: one role and one name per login
    with engine.connect() as conn:
        back = {r.email: (r.role, r.name) for r in conn.execute(sa.text(
            "SELECT email, role, name FROM accounts"))}
    assert back == {a[1]: (a[3], a[2]) for a in ACCOUNTS}
    assert count(engine, "memberships") == 3
    _migrate(engine, "head")


def count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_migration_0006_keeps_each_login_in_the_role_it_had(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'identity.db'}")
    try:
        migrate_logins_made_before(engine)
    finally:
        engine.dispose()
