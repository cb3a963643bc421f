"""upsert_versioned_many's PostgreSQL path (one INSERT … ON CONFLICT statement) leaves what
row-by-row upserts leave, as its SQLite path does (tests/unit/test_consumer_batches.py)."""
import pytest

from shared.db import make_engine
from tests.unit.test_consumer_batches import upserts_many_as_one_by_one

pytestmark = pytest.mark.integration


def test_upsert_versioned_many_on_postgresql_leaves_what_one_by_one_upserts_leave(
        new_database):
    engine = make_engine(new_database("upsert_many"))
    try:
        upserts_many_as_one_by_one(engine)
    finally:
        engine.dispose()
