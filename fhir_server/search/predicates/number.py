"""Number predicates: `eq 100` means [99.5, 100.5) (the precision of the searched value, including
exponent forms like 1e2), gt/lt/ge/le compare with the value itself, ap allows ±10 %."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, and_, not_

from ..tables import idx_number
from . import QueryContext, Target, invalid_value, unsupported_modifier
from .prefixes import split_prefix

TABLE = idx_number


def parse_number(code: str, value: str, text: str) -> tuple[float, float, float]:
    """(value, low, high) where [low, high) is the interval the value's precision stands for."""
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise invalid_value(code, value, "not a number") from exc
    if not number.is_finite() or not math.isfinite(float(number)):
        raise invalid_value(code, value, "not a finite number")
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    # "100" is 100 ± 0.5; the spec reads "1e2" as [95, 105): one more digit than the mantissa shows.
    scientific = "e" in text.lower()
    half = Decimal(5).scaleb(exponent - (2 if scientific else 1))
    return float(number), float(number - half), float(number + half)


def compare(prefix: str, low_col: Any, high_col: Any, number: float, low: float, high: float
            ) -> ColumnElement[bool]:
    if prefix == "eq":
        return and_(low_col >= low, high_col < high)
    if prefix == "ne":
        return not_(and_(low_col >= low, high_col < high))
    if prefix == "gt":
        return high_col > number
    if prefix == "lt":
        return low_col < number
    if prefix == "ge":
        return high_col >= number
    if prefix == "le":
        return low_col <= number
    if prefix == "sa":
        return low_col > number
    if prefix == "eb":
        return high_col < number
    margin = abs(number) / 10
    return and_(low_col <= number + margin, high_col >= number - margin)


def condition(target: Target, modifier: str | None, value: str, ctx: QueryContext) -> ColumnElement[bool]:
    if modifier is not None:
        raise unsupported_modifier(target.code, modifier, "number")
    prefix, text = split_prefix(target.code, value)
    number, low, high = parse_number(target.code, value, text)
    return and_(TABLE.c.hash_identity == target.identity, compare(prefix, TABLE.c.low, TABLE.c.high, number, low, high))
