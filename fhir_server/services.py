"""The long-lived objects of one server process, built once in the app lifespan.

Built by a function, never at import time, so one test process can run servers on SQLite and
PostgreSQL side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .pathway import install as install_pathway
from .repository import Repository
from .search.engine import SearchEngine
from .search.indexer import SearchIndexer
from .search.registry import SearchParameters
from .security.service import install as install_security
from .settings import Settings
from .store.database import Database
from .store.migrate import upgrade
from .subscriptions import install as install_subscriptions
from .telemonitoring import install as install_telemonitoring
from .validation.ig import ensure_loaded
from .validation.packages import R4_CORE, PackageRegistry
from .validation.structure import StructureValidator
from .validation.validator import FhirValidator, WriteValidator

if TYPE_CHECKING:
    from .audit.writer import AuditWriter
    from .pathway.transitions import Pathway
    from .security.service import Security


@dataclass
class Services:
    settings: Settings
    db: Database
    packages: PackageRegistry
    validator: StructureValidator
    search_params: SearchParameters
    indexer: SearchIndexer
    search: SearchEngine
    repository: Repository
    profile_validator: FhirValidator
    # CapabilityStatements per public base URL, built on first request.
    capabilities: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The pathway engine, built on first use (fhir_server.pathway.transitions.engine).
    pathway: Pathway | None = None
    # Token verification and the access policy (set by `security.service.install`).
    security: Security | None = None
    # Background writer of the AuditEvents of reads and refusals.
    audit: AuditWriter | None = None

    def close(self) -> None:
        if self.audit is not None:
            self.audit.close()
        if self.security is not None:
            self.security.close()
        self.db.dispose()


def load_packages(settings: Settings, packages: PackageRegistry | None = None) -> PackageRegistry:
    """R4 core from the package cache (unless given) plus our implementation guide: profiles,
    SearchParameters, terminology."""
    packages = packages or PackageRegistry.from_cache(settings.package_cache, [R4_CORE])
    ensure_loaded(packages, settings.ig_dir)
    return packages


def build_services(settings: Settings, packages: PackageRegistry | None = None) -> Services:
    """`packages` may be shared between several services (tests); it is read-only once loaded."""
    packages = load_packages(settings, packages)
    db = Database(settings.database_url, pool_size=settings.db_pool_size,
                  sqlite_wal_autocheckpoint=settings.sqlite_wal_autocheckpoint)
    search_params = SearchParameters(packages)
    upgrade(db, search_params=search_params)
    validator = StructureValidator(packages)
    indexer = SearchIndexer(search_params)
    search = SearchEngine(search_params, db.dialect, settings)
    profile_validator = FhirValidator(packages, validator, unknown_profile=settings.unknown_profile)
    repository = Repository(validator=WriteValidator(profile_validator), indexer=indexer, finder=search,
                            dialect=db.dialect)
    db.before_commit.append(repository.react)
    services = Services(settings, db, packages, validator, search_params, indexer, search, repository,
                        profile_validator)
    install_security(services)
    install_telemonitoring(services)
    install_pathway(services)
    install_subscriptions(services)
    return services
