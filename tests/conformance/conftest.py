"""Conformance runs go over real HTTP to a server on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fhir_server.settings import Settings
from tests.live_server import serve

if TYPE_CHECKING:
    from fhir_server.services import Services


@pytest.fixture
def settings(db_url: str, package_cache: Path, auth_settings: dict[str, str]) -> Settings:
    """No fixed public base: paging links must name the loopback port the client really used."""
    return Settings(database_url=db_url, package_cache=package_cache, **auth_settings)


@pytest.fixture
def fhir_token(tokens: dict[str, str]) -> str | None:
    """The Bearer token the conformance client sends: the establishment's service account."""
    return tokens["administrator"]


@pytest.fixture
def live_base(services: Services) -> Iterator[str]:
    from fhir_server.app import create_app

    with serve(create_app(services=services)) as url:
        yield url + "/fhir"
