"""URI predicates: exact (hash), `:below` (same URI or under it, by path segment) and `:above`
(the URI or one of its ancestors, by path segment: one hash lookup per ancestor)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_

from ..parse import unescape
from ..tables import idx_uri
from . import QueryContext, Target, invalid_value, unsupported_modifier
from .string import prefix_condition

TABLE = idx_uri


def ancestors(uri: str) -> list[str]:
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return [uri]
    segments = rest.split("/")
    return [f"{scheme}://" + "/".join(segments[:n]) for n in range(len(segments), 0, -1)]


def condition(target: Target, modifier: str | None, value: str, ctx: QueryContext) -> ColumnElement[bool]:
    uri = unescape(value)
    if not uri:
        raise invalid_value(target.code, value, "empty URI")
    if modifier is None:
        return TABLE.c.hash_uri == target.hash(uri)
    if modifier == "above":
        return TABLE.c.hash_uri.in_([target.hash(u) for u in ancestors(uri)])
    if modifier == "below":
        base = uri.rstrip("/")
        return and_(
            TABLE.c.hash_identity == target.identity,
            or_(TABLE.c.uri == base, prefix_condition(TABLE.c.uri, base + "/")),
        )
    raise unsupported_modifier(target.code, modifier, "uri")
