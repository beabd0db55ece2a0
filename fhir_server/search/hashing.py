"""64-bit hashes of (resource type, parameter key, values…): the access path of the index tables.

A lookup such as `identifier=sys|val` becomes one equality test on one indexed BIGINT column, whatever
the lengths of the strings involved. Parts are joined with a unit separator so ("a|b", "c") and
("a", "b|c") never collide by construction; blake2b is in the standard library and stable across
processes (unlike `hash()`), which matters because hashes are stored.
"""

from __future__ import annotations

from functools import lru_cache
from hashlib import blake2b

_SEP = "\x1f"


@lru_cache(maxsize=131072)
def hash_parts(*parts: str) -> int:
    """A signed 64-bit integer, so that it fits BIGINT on PostgreSQL and INTEGER on SQLite."""
    digest = blake2b(_SEP.join(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@lru_cache(maxsize=16384)
def identity_hash(res_type: str, key: str) -> int:
    """H(type, key): the same few hundred values over and over, so cached."""
    return hash_parts(res_type, key)
