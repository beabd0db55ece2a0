"""Choose the patch engine from the request's media type and prepare it before the transaction opens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import BadRequest, UnsupportedMediaType
from .http import JSON_PATCH, JSON_TYPES, BodyLimits, parse_json
from .patch.fhirpath_patch import apply_fhirpath_patch
from .patch.json_patch import apply_json_patch
from .validation.packages import PackageRegistry

Applier = Callable[[dict[str, Any]], dict[str, Any]]


def patch_applier(content_type: str, raw: bytes, limits: BodyLimits, registry: PackageRegistry) -> Applier:
    media = content_type.split(";")[0].strip().lower()
    document = parse_json(raw, limits) if media in (JSON_PATCH, *JSON_TYPES) else None
    return applier_for(media, document, registry)


def applier_for(media: str, document: Any, registry: PackageRegistry) -> Applier:
    """`document` is the parsed patch: a JSON Patch array or a FHIRPath Patch `Parameters`; FHIRPath Patch
    needs the element definitions to know which elements repeat and how choice values are named."""
    if media == JSON_PATCH:
        return lambda content: apply_json_patch(content, document)
    if media in JSON_TYPES:
        if not isinstance(document, dict) or document.get("resourceType") != "Parameters":
            raise BadRequest("A FHIRPath Patch body must be a Parameters resource", code="structure")
        return lambda content: apply_fhirpath_patch(content, document, registry)
    raise UnsupportedMediaType(
        f"PATCH with Content-Type {media or '(none)'} is not supported; use {JSON_PATCH} or application/fhir+json "
        "(FHIRPath Patch)"
    )
