"""The DPI adapter wired as `oncolink serve` wires it: the real app in-process, the journal in the same
database, the MLLP listener on a real loopback port; on SQLite and PostgreSQL (via `services`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from adapters.dpi.http import build_router
from adapters.dpi.service import DpiService, start
from adapters.dpi.settings import DpiSettings
from adapters.fhir_client import FhirClient
from fhir_server.security.dev_issuer import DevIssuer
from tests.live_server import free_port

if TYPE_CHECKING:
    from fhir_server.services import Services


def _reset_journal(url: str) -> None:
    """The shared PostgreSQL schema is truncated between tests, version tables included: start the journal
    afresh so its migrations run again."""
    engine = sa.create_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS dpi_message, dpi_alembic_version")
    engine.dispose()


@pytest.fixture
def dpi_settings(db_url: str, dev_issuer: DevIssuer) -> DpiSettings:
    """The DPI interface authenticates as in production: client credentials at the issuer's token endpoint."""
    _reset_journal(db_url)
    return DpiSettings(database_url=db_url, mllp_host="127.0.0.1", mllp_port=free_port(), mllp_idle_timeout=30,
                       mllp_max_message_bytes=64 * 1024, auth_token_url=dev_issuer.token_url,
                       dpi_client_secret=dev_issuer.client_secret("dpi-interface"))


@pytest.fixture
def app(services: Services) -> FastAPI:
    from fhir_server.app import create_app

    return create_app(services=services, routers=[build_router()])


@pytest.fixture
async def fhir(app: FastAPI, dpi_settings: DpiSettings) -> AsyncIterator[FhirClient]:
    async with FhirClient.for_app(app, run_lifespan=True, auth=dpi_settings.fhir_auth()) as client:
        yield client


@pytest.fixture
async def dpi(app: FastAPI, fhir: FhirClient, dpi_settings: DpiSettings) -> AsyncIterator[DpiService]:
    service = await start(dpi_settings, fhir)
    app.state.dpi = service
    yield service
    await service.stop()
