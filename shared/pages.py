"""API.md's lists: `{"items": [...], "next": cursor-or-null}`, a page of bounded size. One
query schema, one answer shape and one keyset query for every list endpoint of every
service."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, NamedTuple, Sequence

import sqlalchemy as sa
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session

from shared.contracts.fields import UuidString
from shared.errors import NotFound

DEFAULT_PAGE, MAX_PAGE = 50, 100


class PageQuery(Schema):
    """A page: at most `limit` items, after the one whose id is `after` (the previous
    page's `next`)."""
    limit = fields.Integer(load_default=DEFAULT_PAGE, validate=validate.Range(1, MAX_PAGE),
                           metadata={"description": "At most this many items."})
    after = UuidString(load_default=None, metadata={
        "description": "The previous page's `next`: the items after it."})


def page_of(item: type[Schema], name: str) -> type[Schema]:
    """The answer schema of a list of `item`s, named `name` in the OpenAPI document."""
    return Schema.from_dict({
        "items": fields.List(fields.Nested(item), required=True, metadata={
            "description": "This page's items."}),
        "next": fields.String(required=True, allow_none=True, metadata={
            "description": "The `after` of the next page; null on the last page."}),
    }, name=name)


class Page(NamedTuple):
    """One page of a list: its items and the cursor of the next page (None: the last)."""
    items: list[Any]
    next: str | None

    def map(self, item: Callable[[Any], Any]) -> Page:
        """The same page with each row made into its answer."""
        return Page([item(row) for row in self.items], self.next)


@dataclass(frozen=True)
class Key:
    """A sort key of a list; the last key of a list is unique (its id, the cursor)."""
    column: Any  # a column of the query's select
    descending: bool = False


def keyset_page(session: Session, query: sa.Select[Any], keys: Sequence[Key],
                after: str | None, limit: int, *, position: sa.Select[Any] | None = None,
                missing: Literal["not_found", "empty"] = "not_found") -> Page:
    """At most `limit` rows of `query` in the order of `keys`, after the row whose id (the
    last key) is `after`: a keyset page, so rows added or removed meanwhile never shift
    it. `position` selects the other keys' values of the row `after` (needed when there
    is more than one key). A cursor that is not there (any more) is `missing`:
    "not_found" (404) or "empty" (an empty last page)."""
    *leading, unique = keys
    query = query.order_by(*(k.column.desc() if k.descending else k.column for k in keys))
    if after:
        values: tuple[Any, ...] = ()
        if leading:
            assert position is not None, "a list sorted by several keys needs `position`"
            found = session.execute(position).first()
            if found is None:
                if missing == "empty":
                    return Page([], None)
                raise NotFound()
            values = tuple(found)
        query = query.where(_after(keys, (*values, after)))
    rows = session.execute(query.limit(limit + 1)).all()
    page = rows[:limit]
    more = len(rows) > limit
    return Page(list(page), str(page[-1]._mapping[unique.column]) if more else None)


def _after(keys: Sequence[Key], values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """Rows after the one with these key values: (k1 > v1) or (k1 = v1 and k2 > v2)...,
    with < for descending keys."""
    terms = []
    for i, key in enumerate(keys):
        beyond = key.column < values[i] if key.descending else key.column > values[i]
        terms.append(sa.and_(*(k.column == v for k, v in zip(keys[:i], values)), beyond))
    return sa.or_(*terms)
