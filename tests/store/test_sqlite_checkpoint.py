"""The SQLite write-ahead log is checkpointed at the size the settings give, not at SQLite's default."""

from __future__ import annotations

from pathlib import Path

from fhir_server.services import build_services
from fhir_server.settings import Settings
from fhir_server.validation.packages import PackageRegistry
from tests.fhir_data import patient

PAGE = 4096


def _wal_pages(database: Path) -> float:
    wal = Path(f"{database}-wal")
    return wal.stat().st_size / PAGE if wal.exists() else 0.0


def _fill(settings: Settings, registry: PackageRegistry, creates: int) -> float:
    """Create `creates` Patients through the repository; the WAL's size afterwards, in pages."""
    services = build_services(settings, registry)
    try:
        for n in range(creates):
            with services.db.write() as conn:
                services.repository.create(conn, "Patient", patient(family=f"Checkpoint{n}"))
        with services.db.read() as conn:
            configured = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
        assert configured == settings.sqlite_wal_autocheckpoint
        # Measured while the server is up: closing the last connection checkpoints and removes the log.
        return _wal_pages(Path(settings.database_url.removeprefix("sqlite:///")))
    finally:
        services.close()


def test_the_log_is_checkpointed_at_the_configured_size(tmp_path: Path, package_cache: Path,
                                                        auth_settings: dict[str, str],
                                                        shared_services_parts: PackageRegistry) -> None:
    def settings(name: str, pages: int) -> Settings:
        return Settings(database_url=f"sqlite:///{tmp_path / name}", package_cache=package_cache,
                        sqlite_wal_autocheckpoint=pages, **auth_settings)

    # Every create commits a few pages: 300 of them fill a log far longer than 20 pages. Once the log
    # passes the limit a commit copies it back and the next writer starts it again from its beginning
    # (a create writes a few dozen pages at most); with a limit of 100,000 nothing is copied back.
    short = _fill(settings("short.db", 20), shared_services_parts, 300)
    long = _fill(settings("long.db", 100_000), shared_services_parts, 300)
    assert 0 < short <= 100
    assert long > 10 * short


def test_the_default_is_ten_thousand_pages() -> None:
    assert Settings().sqlite_wal_autocheckpoint == 10_000
