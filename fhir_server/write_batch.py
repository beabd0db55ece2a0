"""What a write batch (`Repository.write_batch`) holds back until it flushes, and the rows it holds.

A job that writes thousands of resources in one transaction (the pathway tick) paid two to three
statements per write: the version copy, and for an update a locked re-read of the row it had just read
or written. Inside a batch the version copies are collected and written in one statement per flush,
and the current rows the transaction holds (locked on read, or written by it) are kept so an update
needs no re-read: nobody else can change a row this transaction has locked or written until it ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from .repository import Stored


@dataclass
class WriteBatch:
    # pk → interaction of a version written to `resource` whose `resource_version` row is not copied yet.
    copies: dict[int, str] = field(default_factory=dict)
    # (type, id) → the current row as this transaction holds it, its content kept serialised: the caller
    # may go on changing the dicts it wrote, and a re-read must answer what was stored.
    rows: dict[tuple[str, str], tuple[Stored, bytes | None]] = field(default_factory=dict)

    def hold(self, stored: Stored) -> None:
        content = None if stored.content is None else orjson.dumps(stored.content)
        self.rows[(stored.res_type, stored.res_id)] = (replace(stored, content=None), content)

    def held(self, res_type: str, res_id: str) -> Stored | None:
        found = self.rows.get((res_type, res_id))
        if found is None:
            return None
        stored, content = found
        return replace(stored, content=None if content is None else orjson.loads(content))

    def take_copies(self) -> dict[str, list[int]]:
        """The pending version copies by interaction, emptied."""
        by_method: dict[str, list[int]] = {}
        for pk, method in self.copies.items():
            by_method.setdefault(method, []).append(pk)
        self.copies.clear()
        return by_method
