"""The shape of index rows between extractors and the indexer.

A row is a tuple in the column order of its table after `res_pk` (which the indexer prepends): tuples
deduplicate by value, and go to the database driver as they are.
"""

from __future__ import annotations

from typing import Any

Row = tuple[Any, ...]
Emitted = tuple[str, Row]  # (table kind, row)
