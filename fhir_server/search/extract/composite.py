"""Composite rows (`code-value-quantity=loinc|8480-6$gt100`): the first component, always a token in
R4 core, is folded into the parameter key; the second component is stored as an ordinary row of its
own type under that key. A component pair is then one hash lookup plus the usual predicate of the
second type (ranges, prefixes…), with no table of its own.

Each token of the first component yields two keys, `code$system|code` and `code$code`, matching the
`system|code` and bare `code` search forms (and `code$|code` when the coding has no system)."""

from __future__ import annotations

from typing import Any

from ..registry import SearchParam, SearchParameters
from . import EXTRACTORS, Emitted
from .token import tokens


def first_component_keys(code: str, system: str, value: str) -> list[str]:
    return [f"{code}${system}|{value}", f"{code}${value}"]


def rows(params: SearchParameters, param: SearchParam, res_type: str, resource: dict[str, Any]) -> list[Emitted]:
    first, second = param.components
    extractor = EXTRACTORS.get(second.type)
    if extractor is None:
        return []
    hash_type = param.hash_type(res_type)
    out: list[Emitted] = []
    for node in params.base_nodes(param, res_type, resource):
        keys = [
            key
            for type_name, value in params.values(param, res_type, resource, expression=first.expression, start=node)
            for system, token_code, _ in tokens(type_name, value)
            if token_code
            for key in first_component_keys(param.code, system, token_code)
        ]
        if not keys:
            continue
        seconds = params.values(param, res_type, resource, expression=second.expression, start=node)
        for key in keys:
            out.extend(extractor(hash_type, key, seconds))
    return out
