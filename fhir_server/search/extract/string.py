"""String rows: every text part of a value (each given name, each address line…) as its own row,
stored normalised (case- and accent-folded, for the default prefix match and `:contains`) and exact
(for `:exact`, through a hash)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..fastpath import Typed
from ..hashing import hash_parts, identity_hash
from ..text import NORMALISED_LENGTH, normalise
from .rows import Emitted, Row

_PARTS: dict[str, tuple[str, ...]] = {
    "HumanName": ("text", "family", "given", "prefix", "suffix"),
    "Address": ("text", "line", "city", "district", "state", "postalCode", "country"),
}
# Never text a person would search for: codes, URLs and structural elements of complex types.
_SKIPPED = frozenset({"id", "extension", "modifierExtension", "use", "system", "url", "reference", "type",
                      "period", "language", "contentType", "data", "hash"})


def string_row(hash_type: str, key: str, value: str) -> Row:
    """(hash_identity, hash_exact, value_norm, value_exact)"""
    return (identity_hash(hash_type, key), hash_parts(hash_type, key, value),
            normalise(value)[:NORMALISED_LENGTH], value)


def texts(type_name: str, value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
        return
    if not isinstance(value, dict):
        return
    parts = _PARTS.get(type_name)
    if parts is None:
        yield from _leaves(value)
        return
    for part in parts:
        found = value.get(part)
        if isinstance(found, str):
            yield found
        elif isinstance(found, list):
            yield from (item for item in found if isinstance(item, str))


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
    out = []
    for type_name, value in values:
        for text in texts(type_name, value):
            if text.strip():
                out.append(("string", string_row(hash_type, key, text)))
    return out
