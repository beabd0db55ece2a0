"""Shared fixtures: every storage-backed test runs on SQLite and on PostgreSQL.

PostgreSQL tests get a schema of their own per test session (dropped at the end), so parallel runs
and leftovers of earlier runs never meet.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from fhir_server.security.dev_issuer import DevIssuer
from fhir_server.settings import Settings
from fhir_server.store.database import Database
from fhir_server.store.migrate import upgrade
from fhir_server.validation.packages import R4_CORE, PackageRegistry, install

if TYPE_CHECKING:
    from fhir_server.services import Services

SHARED = Path(__file__).resolve().parents[2] / "shared"
PG_URL = os.environ.get("ONCOLINK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def package_cache() -> Path:
    cache = Path(os.environ.get("ONCOLINK_PACKAGE_CACHE", Path.home() / ".fhir" / "packages"))
    install(cache, R4_CORE, source_dir=SHARED / "fhir" / "packages", registry_url="https://packages.fhir.org")
    return cache


@pytest.fixture(scope="session")
def registry(package_cache: Path) -> PackageRegistry:
    return PackageRegistry.from_cache(package_cache, [R4_CORE])


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as exc:  # pragma: no cover - only where PostgreSQL is absent
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {exc}")
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


def _truncate_all(db: Database) -> None:
    with db.write() as conn:
        inspector = sa.inspect(conn)
        # Every component's migration bookkeeping (alembic_version, dpi_alembic_version…) survives.
        names = [n for n in inspector.get_table_names() if not n.endswith("alembic_version")]
        if db.dialect == "postgresql":
            if names:
                conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY CASCADE")
        else:
            conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            for name in names:
                conn.exec_driver_sql(f'DELETE FROM "{name}"')


@pytest.fixture(scope="session")
def _pg_db(pg_schema_url: str) -> Iterator[Database]:
    db = Database(pg_schema_url, pool_size=5)
    upgrade(db)
    yield db
    db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database URL; SQLite is a fresh file, PostgreSQL a truncated session schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'oncolink.db'}"
        db = Database(url)
        upgrade(db)
        db.dispose()
        return url
    pg: Database = request.getfixturevalue("_pg_db")
    _truncate_all(pg)
    return pg.url.render_as_string(hide_password=False)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, pool_size=5)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def shared_services_parts(registry: PackageRegistry) -> PackageRegistry:
    """Loading packages and compiling validators is per process in production; tests share them too."""
    return registry


@pytest.fixture(scope="session")
def dev_issuer() -> Iterator[DevIssuer]:
    """The local OIDC issuer every test server trusts: real keys, a real JWKS over loopback HTTP."""
    with DevIssuer() as issuer:
        yield issuer


@pytest.fixture(scope="session")
def auth_settings(dev_issuer: DevIssuer) -> dict[str, str]:
    """`Settings` keyword arguments pointing a server at the dev issuer."""
    return {name.removeprefix("ONCOLINK_").lower(): value for name, value in dev_issuer.settings_env().items()}


@pytest.fixture(scope="session")
def tokens(dev_issuer: DevIssuer) -> dict[str, str]:
    """One token per role (fhir_server.security.dev_issuer.ROLES), valid for the whole session."""
    return dev_issuer.tokens()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def admin_headers(tokens: dict[str, str]) -> dict[str, str]:
    """The establishment's service account (system/*.cruds): what tests that are not about access use."""
    return bearer(tokens["administrator"])


@pytest.fixture
def settings(db_url: str, package_cache: Path, auth_settings: dict[str, str]) -> Settings:
    return Settings(database_url=db_url, package_cache=package_cache, base_url="http://testserver", **auth_settings)


@pytest.fixture
def services(settings: Settings, shared_services_parts: PackageRegistry) -> Iterator[Services]:
    from fhir_server.services import build_services

    svc = build_services(settings, shared_services_parts)
    yield svc
    svc.close()


@pytest.fixture
def client(services: Services, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    from fhir_server.app import create_app

    with TestClient(create_app(services=services), headers=admin_headers) as test_client:
        yield test_client
