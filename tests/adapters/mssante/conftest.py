"""The MSSanté adapter wired as `oncolink serve` wires it: the real FHIR app in-process (SQLite and
PostgreSQL via `services`), the outbox in the same database, a real TLS relay on loopback that checks
our client certificate, and the national directory mocked with respx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from adapters.fhir_client import FhirClient
from adapters.mssante.settings import MssanteSettings

from .helpers import DIRECTORY
from .pki import Pki, make_pki
from .relay import RelayServer

if TYPE_CHECKING:
    from fhir_server.services import Services

OWN_TABLES = ("mssante_outbox", "mssante_trigger", "mssante_directory_cache", "mssante_alembic_version")


def reset_outbox(url: str) -> None:
    """The shared PostgreSQL schema is truncated between tests, version tables included: start the adapter's
    tables afresh so that its migrations run again."""
    engine = sa.create_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS " + ", ".join(OWN_TABLES))
    engine.dispose()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def relay_server(pki: Pki) -> Iterator[RelayServer]:
    server = RelayServer(pki).start()
    yield server
    server.stop()


@pytest.fixture
def mss_settings(db_url: str, pki: Pki, relay_server: RelayServer, tmp_path: Path, tokens: dict[str, str]
                 ) -> MssanteSettings:
    """The worker's token is fixed (ONCOLINK_FHIR_TOKEN): respx intercepts every outgoing httpx request
    here, the token endpoint's included; the client-credentials grant is exercised by the DPI tests."""
    reset_outbox(db_url)
    return MssanteSettings(
        fhir_token=tokens["mssante-worker"],
        database_url=db_url, mssante_smtp_host="127.0.0.1", mssante_smtp_port=relay_server.port,
        mssante_smtp_tls="starttls", mssante_client_cert=pki.client_cert, mssante_client_key=pki.client_key,
        mssante_ca_file=pki.ca, mssante_smtp_timeout=10, mssante_smtp_helo="oncolink.test",
        mssante_sender="oncologie.chlyon@ch-lyon.mssante.fr", mssante_sender_name="Onco'Link CH Lyon",
        mssante_directory_url=DIRECTORY, mssante_backoff_seconds=0, mssante_poll_seconds=0,
        mssante_outbox_dir=tmp_path / "outbox-mail")


@pytest.fixture
def app(services: Services) -> FastAPI:
    from fhir_server.app import create_app

    return create_app(services=services)


@pytest.fixture
async def fhir(app: FastAPI, mss_settings: MssanteSettings) -> AsyncIterator[FhirClient]:
    async with FhirClient.for_app(app, run_lifespan=True, auth=mss_settings.fhir_auth()) as client:
        yield client
