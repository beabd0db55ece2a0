"""Token predicates: `code`, `system|code`, `|code`, `system|` as single hash lookups; `:text` on the
display text (word prefix); `:of-type` on identifier types. `:not` is the negation of the plain match
and is applied by the engine."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_

from ..extract.token import OF_TYPE
from ..parse import split_unescaped, unescape
from ..tables import idx_token
from ..text import escape_like, words
from . import QueryContext, Target, invalid_value, unsupported_modifier

TABLE = idx_token
MODIFIERS = frozenset({"text", "not", "of-type"})


def match(target: Target, code: str, value: str) -> ColumnElement[bool]:
    parts = split_unescaped(value, "|")
    if len(parts) == 1:
        token = unescape(parts[0])
        return TABLE.c.hash_value == target.hash(token)
    if len(parts) != 2:
        raise invalid_value(code, value, "expected code, system|code, |code or system|")
    system, token = unescape(parts[0]), unescape(parts[1])
    if not token:
        if not system:
            raise invalid_value(code, value, "neither system nor code given")
        return TABLE.c.hash_sys == target.hash(system, "")
    return system_and_code(target, system, token)


def system_and_code(target: Target, system: str, code: str) -> ColumnElement[bool]:
    """`system|code` through the index that serves bare codes, whose entries carry `hash_sys`: the pair
    is as selective as one hash of both."""
    return and_(TABLE.c.hash_value == target.hash(code), TABLE.c.hash_sys == target.hash(system, ""))


def condition(target: Target, modifier: str | None, value: str, ctx: QueryContext) -> ColumnElement[bool]:
    narrowing = target.narrowing(TABLE)
    found = _condition(target, modifier, value)
    return and_(found, *narrowing) if narrowing else found


def _condition(target: Target, modifier: str | None, value: str) -> ColumnElement[bool]:
    if modifier in (None, "not"):
        return match(target, target.code, value)
    if modifier == "text":
        wanted = words(unescape(value))
        if not wanted:
            raise invalid_value(target.code, value, "empty text")
        pattern = escape_like(wanted)
        return and_(
            TABLE.c.hash_identity == target.identity,
            or_(TABLE.c.text.like(f"{pattern}%", escape="\\"), TABLE.c.text.like(f"% {pattern}%", escape="\\")),
        )
    if modifier == "of-type":
        parts = split_unescaped(value, "|")
        if len(parts) != 3 or not all(parts):
            raise invalid_value(target.code, value, "':of-type' expects type-system|type-code|value")
        system = f"{unescape(parts[0])}|{unescape(parts[1])}"
        return system_and_code(target.derived(OF_TYPE), system, unescape(parts[2]))
    raise unsupported_modifier(target.code, modifier, "token")
