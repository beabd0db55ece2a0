"""The CapabilityStatement: what this server really does, derived from the code's own registries.

It is built from the same resource-type list the routers check and the same search parameters the
engine indexes, so it cannot claim a parameter the engine does not know.
"""

from __future__ import annotations

from typing import Any

from .pathway.router import OPERATIONS as PATHWAY_OPERATIONS
from .services import Services
from .validation.ig import capability_claims, ensure_loaded

SERVER_VERSION = "0.1.0"

_TYPE_INTERACTIONS = [
    "read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type",
]


def _resource_entry(svc: Services, res_type: str, supported: dict[str, list[str]]) -> dict[str, Any]:
    params = svc.search_params.for_type(res_type)
    entry: dict[str, Any] = {
        "type": res_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{res_type}",
        "interaction": [{"code": code} for code in _TYPE_INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-match",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "referencePolicy": ["literal", "local"],
        "searchInclude": sorted(svc.search_params.includes(res_type)),
        "searchRevInclude": sorted(svc.search_params.revincludes(res_type)),
        "searchParam": [
            {"name": code, "definition": param.url, "type": param.type}
            for code, param in sorted(params.items())
            if param.url
        ],
        "operation": [
            {"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"},
            *({"name": name, "definition": url} for name, url in PATHWAY_OPERATIONS.get(res_type, [])),
        ],
    }
    if supported.get(res_type):
        entry["supportedProfile"] = supported[res_type]
    return entry


def capability_statement(svc: Services, base: str) -> dict[str, Any]:
    """Built once per public base URL: it is the same for every request and costs ~150 parameter lists."""
    cached = svc.capabilities.get(base)
    if cached is None:
        cached = svc.capabilities[base] = _build(svc, base)
    return cached


def _security(svc: Services) -> dict[str, Any]:
    """SMART on FHIR, with the OAuth endpoints clients need (also in /.well-known/smart-configuration)."""
    settings = svc.settings
    uris = [{"url": name, "valueUri": value} for name, value in (("token", settings.auth_token_url),
                                                                 ("authorize", settings.auth_authorization_url))
            if value]
    security: dict[str, Any] = {
        "cors": False,
        "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                 "code": "SMART-on-FHIR"}]}],
        "description": "OAuth 2 bearer JWT (RS256/ES256) from the configured issuer; SMART v2 scopes, narrowed to "
                       "the caller's patients by role (care team, own compartment). Every access is audited.",
    }
    if uris:
        security["extension"] = [{"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                                  "extension": uris}]
    return security


def _build(svc: Services, base: str) -> dict[str, Any]:
    claims = capability_claims(ensure_loaded(svc.packages))
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-23",
        "publisher": "Onco'Link FHIR",
        "kind": "instance",
        "software": {"name": "Onco'Link FHIR", "version": SERVER_VERSION},
        "implementation": {"description": "Onco'Link FHIR server", "url": base},
        "fhirVersion": "4.0.1",
        "instantiates": claims["instantiates"],
        "implementationGuide": claims["implementationGuide"],
        # XML is not served: requests that need it get 406 (Accept/_format) or 415 (Content-Type).
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "JSON only (XML answers 406/415). Batch and transaction entries return only their response "
                    "unless Prefer: return=representation. Deleted resources answer 410 Gone."
                ),
                "security": _security(svc),
                "resource": [
                    _resource_entry(svc, t, claims["supportedProfile"]) for t in sorted(svc.validator.resource_types)
                ],
                "interaction": [
                    {"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}, {"code": "search-system"},
                ],
                "searchParam": [
                    {"name": name, "type": kind, "definition": f"http://hl7.org/fhir/SearchParameter/{ref}"}
                    for name, kind, ref in (
                        ("_id", "token", "Resource-id"),
                        ("_lastUpdated", "date", "Resource-lastUpdated"),
                        ("_tag", "token", "Resource-tag"),
                        ("_profile", "uri", "Resource-profile"),
                        ("_security", "token", "Resource-security"),
                    )
                ],
            }
        ],
    }
