"""String normalisation shared by indexing and searching, so both sides always agree.

FHIR string search is case- and accent-insensitive by default ("Hélène" is found by `name=helene`):
values are case-folded and stripped of combining marks after NFKD decomposition. Normalised values are
truncated to a fixed length so that they stay indexable on PostgreSQL; prefix search beyond that length
is re-checked on the exact value.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

NORMALISED_LENGTH = 200
_NOT_WORD = re.compile(r"[^\w]+")


@lru_cache(maxsize=65536)
def normalise(value: str) -> str:
    """Cached: names, cities and codes repeat across resources far more often than not."""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.split())


def words(value: str) -> str:
    """Normalised text with punctuation turned into spaces: "French (France)" → "french france", so
    that `:text` can match any word by prefix."""
    return " ".join(_NOT_WORD.sub(" ", normalise(value)).split())


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix` (code-point order), or
    None when no such bound exists. Lets a prefix test be a B-tree range scan on both databases."""
    chars = list(prefix)
    while chars:
        last = ord(chars[-1])
        if last < 0x10FFFF and not 0xD7FF <= last < 0xE000:
            chars[-1] = chr(last + 1)
            return "".join(chars)
        chars.pop()
    return None


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
