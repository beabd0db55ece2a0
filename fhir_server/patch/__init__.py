"""PATCH engines: JSON Patch (RFC 6902) and FHIRPath Patch (FHIR R4 Parameters)."""

from fhir_server.patch.fhirpath_patch import apply_fhirpath_patch
from fhir_server.patch.json_patch import apply_json_patch

__all__ = ["apply_fhirpath_patch", "apply_json_patch"]
