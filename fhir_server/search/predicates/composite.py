"""Composite predicates (`code-value-quantity=http://loinc.org|8480-6$gt100`): the first component
selects the folded key (see `extract/composite.py`), the second is an ordinary predicate of its type
under that key."""

from __future__ import annotations

from types import ModuleType

from sqlalchemy import ColumnElement, Table

from ..parse import split_unescaped, unescape
from ..registry import SearchParam
from . import QueryContext, Target, invalid_value, unsupported_modifier


def first_key(param: SearchParam, value: str, raw: str) -> str:
    parts = split_unescaped(value, "|")
    if len(parts) == 1 and parts[0]:
        return f"{param.code}${unescape(parts[0])}"
    if len(parts) == 2 and parts[1]:
        return f"{param.code}${unescape(parts[0])}|{unescape(parts[1])}"
    raise invalid_value(param.code, raw, "the first component must be code, system|code or |code")


def condition(
    param: SearchParam, target: Target, modifier: str | None, value: str, ctx: QueryContext,
    modules: dict[str, ModuleType],
) -> tuple[Table, ColumnElement[bool]]:
    if modifier is not None:
        raise unsupported_modifier(param.code, modifier, "composite")
    parts = split_unescaped(value, "$")
    if len(parts) != 2:
        raise invalid_value(param.code, value, f"expected {len(param.components)} components separated by '$'")
    second = param.components[1]
    module = modules[second.type]
    key = first_key(param, parts[0], value)
    inner = Target(target.hash_type, key, param.code, target.targets)
    return module.TABLE, module.condition(inner, None, parts[1], ctx)
