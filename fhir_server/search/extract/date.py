"""Date rows: one inclusive [low, high] range per value. A date stands for its whole precision
(`2021` is the year), a Period for start..end (open ends unbounded), a Timing for the outer limits of
its events and bounds, as the spec prescribes."""

from __future__ import annotations

from typing import Any

from ..dates import MAX_US, MIN_US, try_parse_range
from ..fastpath import Typed
from ..hashing import identity_hash
from .rows import Emitted, Row


def date_row(hash_type: str, key: str, low: int, high: int) -> Row:
    """(hash_identity, low, high)"""
    return (identity_hash(hash_type, key), low, high)


def value_range(type_name: str, value: Any) -> tuple[int, int] | None:
    if isinstance(value, str):
        return try_parse_range(value)
    if not isinstance(value, dict):
        return None
    if type_name == "Timing" or "event" in value or "repeat" in value:
        return _timing(value)
    if type_name == "Period" or "start" in value or "end" in value:
        return _period(value)
    return None


def _period(value: dict[str, Any]) -> tuple[int, int] | None:
    start, end = try_parse_range(value.get("start")), try_parse_range(value.get("end"))
    if start is None and end is None:
        return None
    return (start[0] if start else MIN_US), (end[1] if end else MAX_US)


def _timing(value: dict[str, Any]) -> tuple[int, int] | None:
    ranges = [r for r in (try_parse_range(e) for e in value.get("event") or []) if r]
    bounds = (value.get("repeat") or {}).get("boundsPeriod") if isinstance(value.get("repeat"), dict) else None
    if isinstance(bounds, dict) and (found := _period(bounds)):
        ranges.append(found)
    if not ranges:
        return None
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def rows(hash_type: str, key: str, values: list[Typed]) -> list[Emitted]:
    out = []
    for type_name, value in values:
        found = value_range(type_name, value)
        if found is not None:
            out.append(("date", date_row(hash_type, key, *found)))
    return out
