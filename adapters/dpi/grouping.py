"""The group queue: while one group of messages commits, the next ones wait, then go together.

Messages are queued in the order they arrive on the event loop, whichever connection they came from,
and one committer takes them from the head, one group at a time (ADR 0015). A group is what has
queued meanwhile, up to `max_size` messages, never a fixed delay: a lone sender's message starts at
once, alone; after a group of n, the committer waits at most `max_wait` for n messages to be there
(the senders it just answered), so that concurrent senders keep sharing transactions instead of
drifting into groups of one and three. Messages whose claims clash (the same patient, the same
resource written differently) are never in one group: the later one waits for the next group, and so
does any later message sharing a claim with a message left waiting, so that what concerns one patient
commits in arrival order. A `solo` message (a merge, planned against the database) commits alone,
after everything before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

from .combine import Claims, clash

log = logging.getLogger(__name__)


class Groupable(Protocol):
    claims: Claims
    solo: bool


T = TypeVar("T", bound=Groupable)
R = TypeVar("R")


class GroupQueue(Generic[T, R]):
    def __init__(self, commit: Callable[[list[T]], Awaitable[list[R]]], *, max_size: int, max_wait: float) -> None:
        """`commit` processes a group and answers each message's result, in order. After a group of n
        messages, the next one waits up to `max_wait` seconds for n messages to have queued: the senders
        just answered send their next message within a moment. After a group of one (a lone sender) the
        next message never waits."""
        self.commit = commit
        self.max_size = max_size
        self.max_wait = max_wait
        self.waiting: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()
        self._last_size = 0
        self._closing = False

    def submit(self, item: T) -> asyncio.Future[R]:
        """Queue `item`; the future is settled by `commit` (cancelling it does not unqueue the item: a
        received message is processed even if its sender has gone)."""
        if self._closing:
            raise RuntimeError("the DPI adapter is stopping")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self.waiting.append((item, future))
        self._arrived.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="dpi-group-commit")
        return future

    def take(self) -> list[tuple[T, asyncio.Future[R]]]:
        """The next group, removed from the queue; what it leaves keeps its order."""
        group: list[tuple[T, asyncio.Future[R]]] = []
        taken: Claims = {}
        blocked: Claims = {}  # claims of messages left waiting: later messages sharing one wait too
        kept: deque[tuple[T, asyncio.Future[R]]] = deque()
        scanned = 0
        while self.waiting and len(group) < self.max_size and scanned < 4 * self.max_size:
            pair = self.waiting.popleft()
            scanned += 1
            item = pair[0]
            if item.solo:
                if not group and not kept:
                    group.append(pair)
                else:
                    self.waiting.appendleft(pair)
                break
            if clash(item.claims, taken) or clash(item.claims, blocked):
                kept.append(pair)
                blocked.update(dict.fromkeys(item.claims))
                continue
            group.append(pair)
            taken.update(item.claims)
        self.waiting.extendleft(reversed(kept))
        return group

    async def _run(self) -> None:
        try:
            while self.waiting and not self._closing:
                # Senders answered by the last group send again within a moment: let them catch up.
                expected = min(self._last_size, self.max_size)
                if self.max_wait and expected > 1 and len(self.waiting) < expected:
                    await self._gather(expected, self.max_wait)
                group = self.take()
                self._last_size = len(group)
                try:
                    results = await self.commit([item for item, _ in group])
                except Exception as exc:  # commit answers every message itself: this is a bug of ours
                    log.exception("DPI: a group of %d messages failed", len(group))
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(group, results, strict=True):
                    if not future.done():  # cancelled: the sender has gone
                        future.set_result(result)
        finally:
            self._task = None

    async def _gather(self, expected: int, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while len(self.waiting) < expected and (left := deadline - loop.time()) > 0:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    async def close(self) -> None:
        """Finish the group being committed; messages still queued are not processed (nor acknowledged)."""
        self._closing = True
        if self._task is not None:
            await asyncio.shield(self._task)
        while self.waiting:
            _, future = self.waiting.popleft()
            future.cancel()
