"""The background writer of read and refusal AuditEvents: batches, their deadline, and shutdown."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from fhir_server.app import create_app
from fhir_server.services import Services, build_services
from fhir_server.settings import Settings
from fhir_server.validation.packages import PackageRegistry
from tests.conftest import bearer


def _services(db_url: str, package_cache: Path, auth_settings: dict[str, str], registry: PackageRegistry,
              **audit: Any) -> Services:
    settings = Settings(database_url=db_url, package_cache=package_cache, base_url="http://testserver",
                        **auth_settings, **audit)
    return build_services(settings, registry)


def _reads_audited(services: Services) -> int:
    """Counted in-process: a search over HTTP would itself be audited and fill the batch being watched."""
    with services.db.read() as conn:
        found = services.search.search_url(conn, "AuditEvent", "subtype=read&_summary=count", "http://testserver/fhir")
    return int(found["total"])


def test_full_batches_are_written_at_once_and_the_rest_on_close(
        db_url: str, package_cache: Path, auth_settings: dict[str, str], registry: PackageRegistry,
        tokens: dict[str, str]) -> None:
    """With a deadline far away, only full batches can be written before shutdown; shutdown writes the rest."""
    admin = bearer(tokens["administrator"])
    services = _services(db_url, package_cache, auth_settings, registry, audit_batch_size=3, audit_flush_seconds=60)
    with TestClient(create_app(services=services)) as client:
        for _ in range(7):
            assert client.get("/fhir/Patient/nobody", headers=admin).status_code == 404
        deadline = time.monotonic() + 10
        while _reads_audited(services) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _reads_audited(services) == 6  # two full batches; the seventh waits for its deadline
        services.audit.close()
        assert _reads_audited(services) == 7
    services.close()


def test_a_lone_event_is_written_within_the_flush_delay(
        db_url: str, package_cache: Path, auth_settings: dict[str, str], registry: PackageRegistry,
        tokens: dict[str, str]) -> None:
    admin = bearer(tokens["administrator"])
    services = _services(db_url, package_cache, auth_settings, registry, audit_flush_seconds=0.05)
    with TestClient(create_app(services=services)) as client:
        client.get("/fhir/Patient/nobody", headers=admin)
        deadline = time.monotonic() + 5
        while _reads_audited(services) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _reads_audited(services) == 1
        assert services.audit.flush(timeout=1)
    services.close()
