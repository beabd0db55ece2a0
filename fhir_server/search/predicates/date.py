"""Date predicates with the spec's range semantics: the searched value and each stored value are
ranges [low, high] (implicit in their precision); eq means the stored range lies within the searched
one, gt that it extends above it, sa that it starts after it, ap that they overlap within 10 % of the
distance to now, and so on. `_lastUpdated` uses the same comparisons on the resource row's instant."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, not_, or_

from ..dates import DateFormatError, parse_range
from ..tables import idx_date
from . import QueryContext, Target, invalid_value, unsupported_modifier
from .prefixes import split_prefix

TABLE = idx_date


def search_range(code: str, value: str) -> tuple[str, int, int]:
    prefix, text = split_prefix(code, value)
    try:
        low, high = parse_range(text)
    except DateFormatError as exc:
        raise invalid_value(code, value, str(exc)) from exc
    return prefix, low, high


def compare(prefix: str, low_col: Any, high_col: Any, low: int | Any, high: int | Any,
            ctx: QueryContext, raw_low: int, raw_high: int) -> ColumnElement[bool]:
    """The condition for stored range [low_col, high_col] against searched range [low, high]."""
    if prefix == "eq":
        return and_(low_col >= low, high_col <= high)
    if prefix == "ne":
        return not_(and_(low_col >= low, high_col <= high))
    if prefix == "gt":
        return high_col > high
    if prefix == "lt":
        return low_col < low
    if prefix == "ge":
        return or_(low_col >= low, high_col > high)
    if prefix == "le":
        return or_(high_col <= high, low_col < low)
    if prefix == "sa":
        return low_col > high
    if prefix == "eb":
        return high_col < low
    # ap: overlap, each side widened by 10 % of the gap between the value and now.
    margin = abs(ctx.now_us - (raw_low + raw_high) // 2) // 10
    return and_(low_col <= raw_high + margin, high_col >= raw_low - margin)


def condition(target: Target, modifier: str | None, value: str, ctx: QueryContext) -> ColumnElement[bool]:
    if modifier is not None:
        raise unsupported_modifier(target.code, modifier, "date")
    prefix, low, high = search_range(target.code, value)
    return and_(
        TABLE.c.hash_identity == target.identity,
        compare(prefix, TABLE.c.low, TABLE.c.high, low, high, ctx, low, high),
    )
