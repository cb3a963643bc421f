"""API.md's lists: `{"items": [...], "next": cursor-or-null}`, a page of bounded size. One
query schema and one answer shape for every list endpoint of every service."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.contracts.fields import UuidString

DEFAULT_PAGE, MAX_PAGE = 50, 100


class PageQuery(Schema):
    """A page: at most `limit` items, after the one whose id is `after` (the previous
    page's `next`)."""
    limit = fields.Integer(load_default=DEFAULT_PAGE, validate=validate.Range(1, MAX_PAGE))
    after = UuidString(load_default=None)


def page_of(item: type[Schema], name: str) -> type[Schema]:
    """The answer schema of a list of `item`s, named `name` in the OpenAPI document."""
    return Schema.from_dict({"items": fields.List(fields.Nested(item)),
                             "next": fields.String(allow_none=True)}, name=name)
