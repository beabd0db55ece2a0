"""URI rows: the URI as written (canonical versions kept), with an exact-match hash."""

from __future__ import annotations

from ..fastpath import Typed
from ..hashing import hash_parts, identity_hash
from .rows import Emitted, Row


def uri_row(hash_type: str, key: str, uri: str) -> Row:
    """(hash_identity, hash_uri, uri)"""
    return (identity_hash(hash_type, key), hash_parts(hash_type, key, uri), uri)


def rows(hash_type: str, key: str, values: list[Typed]) -> list[Emitted]:
    return [("uri", uri_row(hash_type, key, value)) for _, value in values if isinstance(value, str) and value]
