"""Keyed FIFO locks: messages about one patient run one at a time, in the order they arrived.

Acquisition order is the order of `hold()` calls (asyncio locks wake waiters first-in first-out), and
`hold()` is entered before the first await of a message's processing, so arrival order on the event
loop is processing order, whichever connection a message came from. Several keys are taken in sorted
order, so two merges naming the same two patients cannot deadlock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, keys: list[str]) -> AsyncIterator[None]:
        ordered = sorted(set(keys))
        for key in ordered:  # register interest synchronously, before any await
            self._users[key] = self._users.get(key, 0) + 1
            self._locks.setdefault(key, asyncio.Lock())
        acquired: list[str] = []
        try:
            for key in ordered:
                await self._locks[key].acquire()
                acquired.append(key)
            yield
        finally:
            for key in reversed(acquired):
                self._locks[key].release()
            for key in ordered:
                self._users[key] -= 1
                if not self._users[key]:
                    del self._users[key]
                    del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)
