"""Load the search benchmark's data set into a database, fast, with the server's own indexer.

Rows are written as the repository writes them (current row, version row, index rows of the same
transaction), without the HTTP and validation layers: 700,000 resources through the API would take
longer than the queries being measured. Run as a module to load a database by URL.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from fhir_server.search.indexer import SearchIndexer
from fhir_server.search.registry import SearchParameters
from fhir_server.search.tables import INDEX_TABLES
from fhir_server.store.database import Database
from fhir_server.store.migrate import upgrade
from fhir_server.store.tables import resource, resource_version
from fhir_server.validation.packages import R4_CORE, Package, PackageRegistry

from .search_data import resources

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "profiles" / "fsh-generated" / "resources"
FIRST_UPDATE = datetime(2025, 1, 1, tzinfo=UTC)
# Resources were written 30 s apart, so `_lastUpdated=gt…` selects a realistic fraction of them.
UPDATE_STEP = timedelta(seconds=30)


def registry(cache: Path) -> PackageRegistry:
    """R4 core plus our profiles when built (they define `CarePlan?care-team=Organization/…`)."""
    packages = PackageRegistry.from_cache(cache, [R4_CORE])
    if any(PROFILES.glob("SearchParameter-*.json")):
        packages.add(Package(_package_folder()))
    return packages


def _package_folder() -> Path:
    """sushi writes bare resources: give them a package.json and an index in a scratch folder."""
    target = ROOT / "var" / "bench-profiles"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    files = []
    for path in sorted(PROFILES.glob("*.json")):
        doc = json.loads(path.read_text())
        if isinstance(doc, dict) and "resourceType" in doc:
            shutil.copy(path, target / path.name)
            files.append({"filename": path.name, "resourceType": doc["resourceType"], "id": doc.get("id"),
                          "url": doc.get("url"), "version": doc.get("version")})
    (target / "package.json").write_text(json.dumps({"name": "onco-link.fhir", "version": "0.0.0-bench"}))
    (target / ".index.json").write_text(json.dumps({"index-version": 1, "files": files}))
    return target


def _batches(items: Iterable[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def load(url: str, factor: float, packages: PackageRegistry, batch_size: int = 2000) -> dict[str, float]:
    db = Database(url)
    upgrade(db)
    indexer = SearchIndexer(SearchParameters(packages))
    with db.read() as conn:
        start_pk = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(resource.c.pk), 0))).scalar_one())
    pk = start_pk
    count = 0
    started = time.perf_counter()
    index_seconds = 0.0
    for batch in _batches(resources(factor), batch_size):
        rows, versions, items = [], [], []
        for doc in batch:
            pk += 1
            updated = FIRST_UPDATE + UPDATE_STEP * (pk - start_pk)
            doc["meta"] = {"versionId": "1",
                           "lastUpdated": updated.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
            common = {"res_type": doc["resourceType"], "res_id": doc["id"], "version_id": 1,
                      "last_updated": updated, "deleted": False, "content": doc}
            rows.append({"pk": pk, **common})
            versions.append({"res_pk": pk, "method": "POST", **common})
            items.append((pk, doc["resourceType"], doc))
        with db.write() as conn:
            conn.execute(resource.insert(), rows)
            conn.execute(resource_version.insert(), versions)
            tick = time.perf_counter()
            indexer.replace_many(conn, items)
            index_seconds += time.perf_counter() - tick
        count += len(batch)
    with db.write() as conn:
        if db.dialect == "postgresql":
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('resource', 'pk'), (SELECT max(pk) FROM resource))")
    analyse(db, ["resource", *(t.name for t in INDEX_TABLES.values())])
    elapsed = time.perf_counter() - started
    db.dispose()
    return {"resources": count, "seconds": elapsed, "index_seconds": index_seconds}


def analyse(db: Database, tables: list[str]) -> None:
    """Planner statistics after a bulk load, as autovacuum would gather them later (SQLite: all tables)."""
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        if db.dialect == "postgresql":
            for name in tables:
                conn.exec_driver_sql(f"VACUUM ANALYZE {name}")
        else:
            conn.exec_driver_sql("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".fhir" / "packages")
    args = parser.parse_args()
    print(load(args.url, args.scale, registry(args.cache)))


if __name__ == "__main__":
    main()
