"""Scheduled jobs of `oncolink serve` (the pathway tick, the missing-questionnaire check).

Each runs in a worker thread: the jobs are synchronous database work and must not stall the event loop
that serves requests and the MLLP listener. A failed run is logged and retried at the next period, never
fatal to the server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

if TYPE_CHECKING:
    from .services import Services

log = logging.getLogger(__name__)

Job = Callable[["Services", datetime], Any]


async def _every(app: FastAPI, seconds: float, job: Job, name: str) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            report = await asyncio.to_thread(job, app.state.services, datetime.now(UTC))
        except Exception:
            log.exception("%s failed; next try in %s s", name, seconds)
        else:
            log.info("%s: %s", name, report)


def periodic(name: str, job: Job, seconds_of: Callable[[Services], float]
             ) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """An attachment for `create_app`: `job` every `seconds_of(services)` seconds; 0 disables it."""

    @asynccontextmanager
    async def attached(app: FastAPI) -> AsyncIterator[None]:
        seconds = seconds_of(app.state.services)
        task = asyncio.create_task(_every(app, seconds, job, name)) if seconds > 0 else None
        try:
            yield
        finally:
            if task:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

    return attached


def scheduled() -> list[Callable[[FastAPI], AbstractAsyncContextManager[None]]]:
    """Every job `oncolink serve` runs, each at the period its setting gives."""
    from .pathway.tick import tick
    from .subscriptions.delivery import deliver
    from .telemonitoring.missing import check_missing

    return [periodic("pathway tick", tick, lambda s: s.settings.pathway_tick_seconds),
            periodic("missing-questionnaire check", check_missing, lambda s: s.settings.missing_check_seconds),
            periodic("subscription delivery", deliver, lambda s: s.settings.subscription_poll_seconds)]
