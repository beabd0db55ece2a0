"""Fixtures shared by the validation, profile and operation tests: a registry of their own holding
R4 core and our implementation guide (never the session registry, whose search parameters other
tests rely on), a validator over it, and the guide's examples."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from fhir_server.errors import Issue
from fhir_server.validation.ig import BuiltIg, ensure_loaded
from fhir_server.validation.packages import R4_CORE, PackageRegistry
from fhir_server.validation.validator import FhirValidator

Found = list[tuple[str, str, tuple[str, ...]]]
SD = "https://oncolink.example.org/fhir/StructureDefinition/"


@pytest.fixture(scope="session")
def ig_registry(package_cache: Path) -> PackageRegistry:
    registry = PackageRegistry.from_cache(package_cache, [R4_CORE])
    ensure_loaded(registry)
    return registry


@pytest.fixture(scope="session")
def built_ig(ig_registry: PackageRegistry) -> BuiltIg:
    return ensure_loaded(ig_registry)


@pytest.fixture(scope="session")
def fhir_validator(ig_registry: PackageRegistry) -> FhirValidator:
    return FhirValidator(ig_registry)


@pytest.fixture(scope="session")
def examples(built_ig: BuiltIg) -> dict[str, dict[str, Any]]:
    """The guide's examples by id."""
    return {r["id"]: r for r in built_ig.examples.values()}


def example(examples: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    return copy.deepcopy(examples[name])


def found(issues: list[Issue], *, information: bool = False) -> Found:
    return [(i.severity, i.code, i.expression) for i in issues if information or i.severity != "information"]
