"""Quantity rows: value range with system, code and unit; Money as an ISO 4217 quantity; Range as its
bounds. Units are compared as written (no UCUM canonicalisation)."""

from __future__ import annotations

from typing import Any

from ..fastpath import Typed
from ..hashing import hash_parts, identity_hash
from .number import HIGHEST, LOWEST, as_float
from .rows import Emitted, Row

ISO_4217 = "urn:iso:std:iso:4217"


def quantity_row(hash_type: str, key: str, system: str, code: str, unit: str, low: float, high: float) -> Row:
    """(hash_identity, hash_units, system, code, unit, low, high)"""
    return (identity_hash(hash_type, key), hash_parts(hash_type, key, system, code), system, code, unit,
            low, high)


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def quantities(type_name: str, value: Any) -> list[tuple[str, str, str, float, float]]:
    if not isinstance(value, dict):
        exact = as_float(value)
        return [("", "", "", exact, exact)] if exact is not None else []
    if type_name == "Range" or (("low" in value or "high" in value) and "value" not in value):
        low, high = value.get("low"), value.get("high")
        low_v = as_float(low.get("value")) if isinstance(low, dict) else None
        high_v = as_float(high.get("value")) if isinstance(high, dict) else None
        if low_v is None and high_v is None:
            return []
        units = low if isinstance(low, dict) and low_v is not None else high
        return [(_s(units.get("system")), _s(units.get("code")), _s(units.get("unit")),
                 LOWEST if low_v is None else low_v, HIGHEST if high_v is None else high_v)]
    amount = as_float(value.get("value"))
    if amount is None:
        return []
    if type_name == "Money" or ("currency" in value and "code" not in value):
        return [(ISO_4217, _s(value.get("currency")), _s(value.get("currency")), amount, amount)]
    return [(_s(value.get("system")), _s(value.get("code")), _s(value.get("unit")), amount, amount)]


def rows(hash_type: str, key: str, values: list[Typed]) -> list[Emitted]:
    out = []
    for type_name, value in values:
        for system, code, unit, low, high in quantities(type_name, value):
            out.append(("quantity", quantity_row(hash_type, key, system, code, unit, low, high)))
    return out
