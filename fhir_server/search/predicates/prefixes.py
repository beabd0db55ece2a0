"""Comparison prefixes (eq ne gt lt ge le sa eb ap) of number, date and quantity values."""

from __future__ import annotations

import re

from fhir_server.errors import BadRequest

PREFIXES = frozenset({"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"})
_LEADING_LETTERS = re.compile(r"^([a-zA-Z]+)(.*)$", re.S)


def split_prefix(code: str, value: str) -> tuple[str, str]:
    match = _LEADING_LETTERS.match(value)
    if not match:
        return "eq", value
    prefix, rest = match.group(1), match.group(2)
    if prefix not in PREFIXES:
        raise BadRequest(
            f"Invalid value '{value}' for search parameter '{code}': unknown prefix '{prefix}' "
            "(expected one of eq, ne, gt, lt, ge, le, sa, eb, ap)",
            code="invalid",
        )
    if not rest:
        raise BadRequest(f"Invalid value '{value}' for search parameter '{code}': no value after prefix")
    return prefix, rest
