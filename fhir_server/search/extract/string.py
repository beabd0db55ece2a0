"""String rows: every text part of a value (each given name, each address line…) as its own row,
stored normalised (case- and accent-folded, for the default prefix match and `:contains`) and exact
(for `:exact`, through a hash).

A row of a HumanName or Address also records which parts the text was found in (`parts`, one bit per
element of `parts.PARTS`): `family`, `given` or `address-city` then read the rows of `name` or `address`, with a
part filter (see `SearchParameters.part_mask`) instead of writing rows of their own, which would repeat
the same texts — a third of a Patient's string rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..fastpath import Typed
from ..hashing import hash_parts, identity_hash
from ..parts import PARTS
from ..text import NORMALISED_LENGTH, normalise
from .rows import Emitted, Row

# Never text a person would search for: codes, URLs and structural elements of complex types.
_SKIPPED = frozenset({"id", "extension", "modifierExtension", "use", "system", "url", "reference", "type",
                      "period", "language", "contentType", "data", "hash"})


def string_row(hash_type: str, key: str, value: str, parts: int = 0) -> Row:
    """(hash_identity, hash_exact, value_norm, value_exact, parts)"""
    return (identity_hash(hash_type, key), hash_parts(hash_type, key, value),
            normalise(value)[:NORMALISED_LENGTH], value, parts)


def texts(type_name: str, value: Any) -> Iterator[tuple[int, str]]:
    """(part bit, text) pairs; the bit is 0 for texts outside a `PARTS` type."""
    if isinstance(value, str):
        yield 0, value
        return
    if not isinstance(value, dict):
        return
    parts = PARTS.get(type_name)
    if parts is None:
        yield from ((0, text) for text in _leaves(value))
        return
    for part, bit in parts:
        found = value.get(part)
        if isinstance(found, str):
            yield bit, found
        elif isinstance(found, list):
            yield from ((bit, item) for item in found if isinstance(item, str))


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, dict):
        for name, item in value.items():
            if name not in _SKIPPED and not name.startswith("_"):
                yield from _leaves(item)


def rows(hash_type: str, key: str, values: list[Typed]) -> list[Emitted]:
    """One row per distinct text, with the parts of every place it was found in."""
    found: dict[str, int] = {}
    for type_name, value in values:
        for bit, text in texts(type_name, value):
            if text.strip():
                found[text] = found.get(text, 0) | bit
    return [("string", string_row(hash_type, key, text, parts)) for text, parts in found.items()]
