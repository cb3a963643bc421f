"""The one keyset pagination every list uses (shared/pages.py)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.errors import NotFound
from shared.pages import Key, keyset_page

metadata = sa.MetaData()
items = sa.Table("items", metadata, sa.Column("id", sa.String, primary_key=True),
                 sa.Column("day", sa.Integer, nullable=False),
                 sa.Column("shown", sa.Boolean, nullable=False))
# Several rows share a day: the id breaks the tie, so no row is skipped or repeated.
ROWS = [{"id": f"i{n:02}", "day": n // 3, "shown": n % 4 != 0} for n in range(20)]


@pytest.fixture()
def session():
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    with Session(engine) as s:
        s.execute(items.insert(), ROWS)
        yield s


def _walk(session, keys, limit, **options):
    pages, after = [], None
    while True:
        page = keyset_page(session, sa.select(items), keys, after, limit,
                           position=sa.select(items.c.day).where(items.c.id == after),
                           **options)
        pages.append([row.id for row in page.items])
        if page.next is None:
            return pages
        assert page.next == pages[-1][-1]  # the cursor is the last item's id
        after = page.next


def test_pages_by_id_cover_every_row_once_in_order(session):
    pages = _walk(session, [Key(items.c.id)], 6)
    assert [len(p) for p in pages] == [6, 6, 6, 2]
    assert sum(pages, []) == sorted(r["id"] for r in ROWS)


def test_newest_first_with_ties_on_the_sort_key(session):
    keys = [Key(items.c.day, descending=True), Key(items.c.id, descending=True)]
    expected = [r["id"] for r in sorted(ROWS, key=lambda r: (r["day"], r["id"]),
                                        reverse=True)]
    for limit in (1, 2, 3, 7, 20, 50):
        assert sum(_walk(session, keys, limit), []) == expected


def test_keys_in_mixed_directions(session):
    keys = [Key(items.c.day, descending=True), Key(items.c.id)]
    expected = [r["id"] for r in sorted(ROWS, key=lambda r: (-r["day"], r["id"]))]
    assert sum(_walk(session, keys, 4), []) == expected


def test_an_exact_last_page_has_no_next(session):
    page = keyset_page(session, sa.select(items), [Key(items.c.id)], None, len(ROWS))
    assert len(page.items) == len(ROWS) and page.next is None


def test_a_cursor_that_is_not_there_is_a_404_or_an_empty_page(session):
    keys = [Key(items.c.day), Key(items.c.id)]
    missing = sa.select(items.c.day).where(items.c.id == "gone")
    with pytest.raises(NotFound):
        keyset_page(session, sa.select(items), keys, "gone", 5, position=missing)
    assert keyset_page(session, sa.select(items), keys, "gone", 5, position=missing,
                       missing="empty") == ([], None)


def test_the_query_filters_are_kept(session):
    page = keyset_page(session, sa.select(items).where(items.c.shown), [Key(items.c.id)],
                       None, 100)
    assert [r.id for r in page.items] == [r["id"] for r in ROWS if r["shown"]]


def test_map_keeps_the_cursor(session):
    page = keyset_page(session, sa.select(items), [Key(items.c.id)], None, 3)
    assert page.map(lambda r: r.id.upper()) == (["I00", "I01", "I02"], "i02")
