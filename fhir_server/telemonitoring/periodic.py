"""The missing-questionnaire check as a periodic task of `oncolink serve`.

Run in a worker thread: the check is synchronous database work and must not stall the event loop that
serves requests and the MLLP listener. A failed run is logged and retried at the next period, never
fatal to the server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime

from fastapi import FastAPI

from .missing import check_missing

log = logging.getLogger(__name__)


async def _every(app: FastAPI, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            report = await asyncio.to_thread(check_missing, app.state.services, datetime.now(UTC))
        except Exception:
            log.exception("missing-questionnaire check failed; next try in %s s", seconds)
        else:
            if report.alerted:
                log.info("missing weekly questionnaire: %d alert(s) raised", len(report.alerted))


@asynccontextmanager
async def attached(app: FastAPI) -> AsyncIterator[None]:
    seconds = app.state.services.settings.missing_check_seconds
    task = asyncio.create_task(_every(app, seconds)) if seconds > 0 else None
    try:
        yield
    finally:
        if task:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
