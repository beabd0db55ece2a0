"""Number rows: exact values (low = high), or a Range's bounds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..fastpath import Typed
from ..hashing import identity_hash
from .rows import Emitted, Row

LOWEST = -1.7976931348623157e308
HIGHEST = 1.7976931348623157e308


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    return None


def number_row(hash_type: str, key: str, low: float, high: float) -> Row:
    """(hash_identity, low, high)"""
    return (identity_hash(hash_type, key), low, high)


def value_range(type_name: str, value: Any) -> tuple[float, float] | None:
    exact = as_float(value)
    if exact is not None:
        return exact, exact
    if isinstance(value, dict) and (type_name == "Range" or "low" in value or "high" in value):
        low = as_float((value.get("low") or {}).get("value")) if isinstance(value.get("low"), dict) else None
        high = as_float((value.get("high") or {}).get("value")) if isinstance(value.get("high"), dict) else None
        if low is None and high is None:
            return None
        return (LOWEST if low is None else low), (HIGHEST if high is None else high)
    return None


def rows(hash_type: str, key: str, values: list[Typed]) -> list[Emitted]:
    out = []
    for type_name, value in values:
        found = value_range(type_name, value)
        if found is not None:
            out.append(("number", number_row(hash_type, key, *found)))
    return out
