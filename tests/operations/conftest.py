"""The server with this package's routers and write-path check, over a registry holding our guide.

Until the lead wires them into `create_app` and `build_services`, the fixture adds them itself; once
wired, it changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from fhir_server.validation.packages import PackageRegistry
from fhir_server.validation.validator import WriteValidator
from tests.validation.support import built_ig, examples, fhir_validator, ig_registry  # noqa: F401

if TYPE_CHECKING:
    from fhir_server.services import Services


@pytest.fixture(scope="session")
def shared_services_parts(ig_registry: PackageRegistry) -> PackageRegistry:  # noqa: F811
    return ig_registry


@pytest.fixture
def ig_client(services: Services, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    from fhir_server.app import create_app
    from fhir_server.operations import ig, validate

    app = create_app(services=services)
    paths = {getattr(route, "path", "") for route in app.routes}
    if "/fhir/{res_type}/$validate" not in paths:
        app.include_router(validate.router)
    if "/ig/package.tgz" not in paths:
        app.include_router(ig.router)
    if not isinstance(services.repository.validator, WriteValidator):
        services.repository.validator = WriteValidator(validate.validator_for(services))
    with TestClient(app, headers=admin_headers) as client:
        yield client
