"""Identity's migration 0006 on logins made before it, on real PostgreSQL (the SQLite run
and what is checked: tests/unit/test_identity_membership_migration.py)."""
import pytest

from shared.db import make_engine
from tests.unit.test_identity_membership_migration import migrate_logins_made_before

pytestmark = pytest.mark.integration


def test_migration_0006_keeps_each_login_in_the_role_it_had_on_postgresql(new_database):
    engine = make_engine(new_database("identity"))
    try:
        migrate_logins_made_before(engine)
    finally:
        engine.dispose()
