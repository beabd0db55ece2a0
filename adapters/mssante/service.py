"""Start and stop the MSSanté adapter: outbox migrations, directory client, composer and the worker loop.

`oncolink serve` enters `attached(app)` in the app's lifespan (the worker calls the app in-process and
polls every ONCOLINK_MSSANTE_POLL_SECONDS); `oncolink mssante send-pending` builds the same service
and runs one pass. The caller keeps ownership of the FhirClient.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from adapters.fhir_client import FhirClient

from .compose import Composer, Mappings
from .directory import Directory
from .settings import MssanteSettings
from .smtp import Transport, transport_for
from .store import Store
from .worker import PassReport, Worker

log = logging.getLogger(__name__)


@dataclass
class MssanteService:
    settings: MssanteSettings
    store: Store
    directory: Directory
    worker: Worker
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def run_once(self) -> PassReport:
        """One pass; passes never overlap inside a process (the outbox guards across processes)."""
        async with self._lock:
            return await self.worker.run_once()

    async def _loop(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                report = await self.run_once()
                if report.busy:
                    log.info("MSSanté: %s", report)
            except Exception:  # the loop must outlive one bad pass; the outbox keeps the work
                log.exception("MSSanté: pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=interval)

    def start_loop(self) -> None:
        interval = self.settings.mssante_poll_seconds
        if interval > 0 and self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._loop(interval), name="mssante-worker")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, timeout=self.settings.mssante_smtp_timeout + 5)
            self._task = None
        await self.directory.aclose()
        await asyncio.to_thread(self.store.dispose)


async def start(settings: MssanteSettings, client: FhirClient, *, loop: bool = True,
                transport: Transport | None = None, http: Any = None) -> MssanteService:
    """Migrate the outbox, load the wording and, when `loop` and the poll interval is not 0, start polling."""
    store = Store(settings.store_url)
    await asyncio.to_thread(store.upgrade)
    mappings = Mappings.load(settings.mssante_mappings)
    composer = Composer(mappings, sender=settings.mssante_sender, sender_name=settings.mssante_sender_name,
                        notification_to=settings.notification_address, source_oid=settings.mssante_source_oid)
    directory = Directory(base_url=settings.mssante_directory_url, store=store,
                          api_key=settings.mssante_directory_api_key, timeout=settings.mssante_directory_timeout,
                          ttl=timedelta(seconds=settings.mssante_directory_cache_seconds),
                          negative_ttl=timedelta(seconds=settings.mssante_directory_negative_cache_seconds),
                          max_pages=settings.mssante_directory_max_pages, http=http)
    worker = Worker(settings, client, store, directory, composer, transport or transport_for(settings))
    service = MssanteService(settings, store, directory, worker)
    if loop:
        service.start_loop()
    return service


@asynccontextmanager
async def attached(app: Any, settings: MssanteSettings | None = None, *, loop: bool = True
                   ) -> AsyncIterator[MssanteService]:
    """The adapter for the FHIR app this process serves: enter it in the app's lifespan, after the
    server's own start-up. Its FhirClient calls `app` in-process."""
    settings = settings or MssanteSettings()
    client = FhirClient.for_app(app, timeout=settings.fhir_timeout, auth=settings.fhir_auth())
    try:
        service = await start(settings, client, loop=loop)
    except BaseException:
        await client.aclose()
        raise
    app.state.mssante = service
    try:
        yield service
    finally:
        app.state.mssante = None
        await service.stop()
        await client.aclose()
