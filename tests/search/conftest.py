"""Fixtures of the search tests: engine objects built once per session on the shared registry."""

from __future__ import annotations

import pytest

from fhir_server.search.registry import SearchParameters
from fhir_server.validation.packages import PackageRegistry


@pytest.fixture(scope="session")
def search_params(registry: PackageRegistry) -> SearchParameters:
    return SearchParameters(registry)
