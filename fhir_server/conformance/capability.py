"""What the server claims, read from its CapabilityStatement into the questions checks ask."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .client import CheckFailed, ServerClient, body


@dataclass
class TypeClaims:
    interactions: set[str]
    search_params: dict[str, str]  # code → type
    includes: set[str]
    revincludes: set[str]
    update_create: bool
    conditional_create: bool
    conditional_update: bool
    conditional_delete: str
    versioning: str


@dataclass
class Capability:
    fhir_version: str
    formats: list[str]
    patch_formats: list[str]
    system_interactions: set[str]
    system_search_params: dict[str, str]
    types: dict[str, TypeClaims] = field(default_factory=dict)

    def claims(self, res_type: str, interaction: str) -> bool:
        return res_type in self.types and interaction in self.types[res_type].interactions

    def param(self, res_type: str, code: str) -> str | None:
        """The type of search parameter `code` on `res_type`, counting the common (system-wide) ones."""
        claims = self.types.get(res_type)
        if claims is None:
            return None
        return claims.search_params.get(code) or self.system_search_params.get(code)

    def searchable(self, res_type: str, code: str, kind: str) -> bool:
        return self.claims(res_type, "search-type") and self.param(res_type, code) == kind


def parse(statement: dict[str, Any]) -> Capability:
    rest = next((r for r in statement.get("rest") or [] if r.get("mode") == "server"), {})
    capability = Capability(
        fhir_version=str(statement.get("fhirVersion") or ""),
        formats=[str(f) for f in statement.get("format") or []],
        patch_formats=[str(f) for f in statement.get("patchFormat") or []],
        system_interactions={str(i.get("code")) for i in rest.get("interaction") or []},
        system_search_params={str(p.get("name")): str(p.get("type")) for p in rest.get("searchParam") or []},
    )
    for entry in rest.get("resource") or []:
        capability.types[str(entry.get("type"))] = TypeClaims(
            interactions={str(i.get("code")) for i in entry.get("interaction") or []},
            search_params={str(p.get("name")): str(p.get("type")) for p in entry.get("searchParam") or []},
            includes={str(v) for v in entry.get("searchInclude") or []},
            revincludes={str(v) for v in entry.get("searchRevInclude") or []},
            update_create=bool(entry.get("updateCreate")),
            conditional_create=bool(entry.get("conditionalCreate")),
            conditional_update=bool(entry.get("conditionalUpdate")),
            conditional_delete=str(entry.get("conditionalDelete") or "not-supported"),
            versioning=str(entry.get("versioning") or "no-version"),
        )
    return capability


def fetch(client: ServerClient) -> Capability:
    statement = body(client.expect("GET", "metadata", (200,)))
    if statement.get("resourceType") != "CapabilityStatement":
        raise CheckFailed(f"GET metadata answered a {statement.get('resourceType')}, not a CapabilityStatement")
    return parse(statement)
