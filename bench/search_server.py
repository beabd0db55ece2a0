"""The FHIR server as `oncolink serve` runs it, with our profiles package loaded (until the server
loads it itself) and, with ONCOLINK_BENCH_NO_INDEX=1, search indexing switched off: the reference
point of the indexing-cost benchmark."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import Connection

from fhir_server.app import create_app
from fhir_server.repository import IndexRows
from fhir_server.services import build_services
from fhir_server.settings import Settings

from .search_load import registry


class _NoIndex:
    def rows(self, res_type: str, resource: dict[str, Any]) -> IndexRows:
        return {}

    def replace_many(self, conn: Connection, items: list[tuple[int, str, dict[str, Any] | None]], *,
                     known: Mapping[int, IndexRows] | None = None) -> None:
        return None


def main() -> None:
    settings = Settings()
    services = build_services(settings, registry(Path(settings.package_cache)))
    if os.environ.get("ONCOLINK_BENCH_NO_INDEX") == "1":
        services.indexer = _NoIndex()  # type: ignore[assignment]
        services.repository.indexer = services.indexer
    uvicorn.run(create_app(settings, services), host=settings.host, port=settings.port, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
