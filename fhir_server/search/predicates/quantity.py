"""Quantity predicates: `[prefix]number|system|code`, `number||code` (code or unit as written) or a
bare number; the numeric part follows number semantics."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_

from ..parse import split_unescaped, unescape
from ..tables import idx_quantity
from . import QueryContext, Target, invalid_value, unsupported_modifier
from .number import compare, parse_number
from .prefixes import split_prefix

TABLE = idx_quantity


def condition(target: Target, modifier: str | None, value: str, ctx: QueryContext) -> ColumnElement[bool]:
    if modifier is not None:
        raise unsupported_modifier(target.code, modifier, "quantity")
    parts = split_unescaped(value, "|")
    if len(parts) not in (1, 3):
        raise invalid_value(target.code, value, "expected number, number|system|code or number||code")
    prefix, text = split_prefix(target.code, unescape(parts[0]))
    number, low, high = parse_number(target.code, value, text)
    numeric = compare(prefix, TABLE.c.low, TABLE.c.high, number, low, high)
    if len(parts) == 1:
        return and_(TABLE.c.hash_identity == target.identity, numeric)
    system, code = unescape(parts[1]), unescape(parts[2])
    if system and code:
        return and_(TABLE.c.hash_units == target.hash(system, code), numeric)
    if code:
        return and_(TABLE.c.hash_identity == target.identity, or_(TABLE.c.code == code, TABLE.c.unit == code),
                    numeric)
    if system:
        return and_(TABLE.c.hash_identity == target.identity, TABLE.c.system == system, numeric)
    return and_(TABLE.c.hash_identity == target.identity, numeric)
