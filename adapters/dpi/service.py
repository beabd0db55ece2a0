"""Start and stop the DPI adapter: journal, processor and (unless the port is 0) the MLLP listener.

`oncolink serve` calls `start()` inside the server's event loop with a FhirClient on the in-process
app; `oncolink mllp` with a FhirClient on a remote base URL. Both get the same pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from adapters.fhir_client import FhirClient

from .ack import Header, build
from .er7 import encode
from .errors import INTERNAL_ERROR, Problem
from .journal import Journal
from .maps import Mappings
from .mllp import Frame, MllpServer, Peer
from .processor import Outcome, Processor
from .settings import DpiSettings

log = logging.getLogger(__name__)


def tls_context(settings: DpiSettings) -> ssl.SSLContext | None:
    if settings.mllp_tls_cert is None or settings.mllp_tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.mllp_tls_cert, settings.mllp_tls_key)
    if settings.mllp_tls_client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(settings.mllp_tls_client_ca)
    return context


@dataclass
class DpiService:
    settings: DpiSettings
    processor: Processor
    journal: Journal
    listener: MllpServer | None = None

    @property
    def mllp_port(self) -> int | None:
        return self.listener.port if self.listener else None

    async def handle_frame(self, frame: Frame, peer: Peer) -> bytes:
        if frame.oversized:
            # The body was not kept: answer from its header so the sender knows which message it was.
            header = Header.salvage(frame.data)
            limit = self.settings.mllp_max_message_bytes
            problem = Problem(INTERNAL_ERROR, f"message of {frame.size} bytes exceeds the limit of {limit} bytes")
            log.warning("MLLP: %s sent a message of %d bytes (limit %d)", peer, frame.size, limit)
            return encode(build(header, "AR", [problem]), header.charset)
        outcome = await self.processor.process(frame.data, transport="mllp", peer=str(peer))
        return outcome.ack

    async def process(self, raw: bytes, *, transport: str = "http", peer: str = "") -> Outcome:
        return await self.processor.process(raw, transport=transport, peer=peer)

    async def stop(self) -> None:
        if self.listener is not None:
            await self.listener.stop()
            self.listener = None
        await self.processor.close()
        await asyncio.to_thread(self.journal.dispose)


async def start(settings: DpiSettings, client: FhirClient, *, listen: bool = True) -> DpiService:
    """Migrate the journal, load the maps and, when `listen` and ONCOLINK_MLLP_PORT is not 0, listen.

    The caller keeps ownership of `client` (close it after `stop()`).
    """
    journal = Journal(settings.journal_url)
    await asyncio.to_thread(journal.upgrade)
    mappings = Mappings.load(settings.dpi_mappings)
    processor = Processor(client, mappings, journal, default_charset=settings.hl7_default_charset,
                          provenance=settings.dpi_provenance, retries=settings.dpi_retries,
                          application=settings.hl7_application,
                          group_max_messages=settings.dpi_group_max_messages,
                          group_max_wait=settings.dpi_group_max_wait_ms / 1000)
    service = DpiService(settings, processor, journal)
    if listen and settings.mllp_port:
        listener = MllpServer(service.handle_frame, settings.listen_host, settings.mllp_port,
                              max_message_bytes=settings.mllp_max_message_bytes,
                              idle_timeout=settings.mllp_idle_timeout or None, ssl_context=tls_context(settings),
                              max_connections=settings.mllp_max_connections)
        await listener.start()
        service.listener = listener
    return service


@asynccontextmanager
async def attached(app: Any, settings: DpiSettings | None = None, *, listen: bool = True
                   ) -> AsyncIterator[DpiService]:
    """The adapter for the FHIR app this process serves: enter it in the app's lifespan, after the
    server's own start-up. Its FhirClient calls `app` in-process; `app.state.dpi` serves `POST /hl7v2`."""
    settings = settings or DpiSettings()
    client = FhirClient.for_app(app, timeout=settings.fhir_timeout, auth=settings.fhir_auth())
    try:
        service = await start(settings, client, listen=listen)
    except BaseException:
        await client.aclose()
        raise
    app.state.dpi = service
    try:
        yield service
    finally:
        app.state.dpi = None
        await service.stop()
        await client.aclose()
