"""String predicates: case- and accent-insensitive prefix by default (a B-tree range on the
normalised value), `:exact` (hash of the exact value), `:contains` (LIKE on the normalised value)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_

from ..parse import unescape
from ..tables import idx_string
from ..text import NORMALISED_LENGTH, escape_like, normalise, prefix_upper_bound
from . import QueryContext, Target, invalid_value, unsupported_modifier

TABLE = idx_string
MODIFIERS = frozenset({"exact", "contains"})


def prefix_condition(column: object, prefix: str) -> ColumnElement[bool]:
    upper = prefix_upper_bound(prefix)
    lower_bound = column >= prefix  # type: ignore[operator]
    return and_(lower_bound, column < upper) if upper else lower_bound  # type: ignore[operator]


def condition(target: Target, modifier: str | None, value: str, ctx: QueryContext, table: Table = TABLE
              ) -> ColumnElement[bool]:
    """`table`: `idx_string` or its member-scoped copy, which has the same value columns."""
    text = unescape(value)
    if modifier == "exact":
        # Through the normalised-value index (the exact hash has none), then the exact hash.
        return and_(table.c.hash_identity == target.identity,
                    table.c.value_norm == normalise(text)[:NORMALISED_LENGTH],
                    table.c.hash_exact == target.hash(text), *target.narrowing(table))
    if modifier not in (None, "contains"):
        raise unsupported_modifier(target.code, modifier, "string")
    normalised = normalise(text)[:NORMALISED_LENGTH]
    if not normalised:
        raise invalid_value(target.code, value, "empty after removing spaces")
    identity = and_(table.c.hash_identity == target.identity, *target.narrowing(table))
    if modifier == "contains":
        return and_(identity, table.c.value_norm.like(f"%{escape_like(normalised)}%", escape="\\"))
    return and_(identity, prefix_condition(table.c.value_norm, normalised))
