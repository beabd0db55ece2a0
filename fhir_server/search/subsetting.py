"""`_summary` and `_elements`: which top-level elements of a resource a searchset returns.

Summary and mandatory elements come from the StructureDefinitions of the loaded packages (`isSummary`,
`min`), computed once per resource type. Subsetted resources are marked with the SUBSETTED tag, as the
spec requires, so a client never mistakes them for complete resources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server.validation.packages import PackageRegistry

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
_ALWAYS = ("resourceType", "id", "meta")


@dataclass(frozen=True)
class _Elements:
    """Top-level element names; choice elements end with `[x]` stripped and are matched by prefix."""

    summary: frozenset[str]
    mandatory: frozenset[str]
    choices: frozenset[str]


class Subsetter:
    def __init__(self, packages: PackageRegistry) -> None:
        self.packages = packages
        self._by_type: dict[str, _Elements] = {}

    def _elements(self, res_type: str) -> _Elements:
        found = self._by_type.get(res_type)
        if found is None:
            summary, mandatory, choices = set(), set(), set()
            definition = self.packages.resolve(f"http://hl7.org/fhir/StructureDefinition/{res_type}") or {}
            for element in (definition.get("snapshot") or {}).get("element", []):
                path = element.get("path", "")
                parts = path.split(".")
                if len(parts) != 2:
                    continue
                name = parts[1]
                if name.endswith("[x]"):
                    name = name[:-3]
                    choices.add(name)
                if element.get("isSummary"):
                    summary.add(name)
                if (element.get("min") or 0) > 0:
                    mandatory.add(name)
            found = _Elements(frozenset(summary), frozenset(mandatory), frozenset(choices))
            self._by_type[res_type] = found
        return found

    @staticmethod
    def _element_name(key: str, choices: frozenset[str]) -> str:
        name = key[1:] if key.startswith("_") else key
        for choice in choices:
            if name.startswith(choice) and name[len(choice) : len(choice) + 1].isupper():
                return choice
        return name

    def _keep(self, resource: dict[str, Any], wanted: set[str], choices: frozenset[str]) -> dict[str, Any]:
        out = {k: v for k, v in resource.items() if k in _ALWAYS or self._element_name(k, choices) in wanted}
        meta = dict(out.get("meta") or {})
        tags = [t for t in meta.get("tag") or [] if t.get("code") != "SUBSETTED"]
        meta["tag"] = [*tags, SUBSETTED]
        out["meta"] = meta
        return out

    def summary(self, resource: dict[str, Any], mode: str) -> dict[str, Any]:
        if mode in ("false", "count"):
            return resource
        elements = self._elements(resource["resourceType"])
        if mode == "data":
            return self._keep(resource, {self._element_name(k, elements.choices) for k in resource} - {"text"},
                              elements.choices)
        if mode == "text":
            return self._keep(resource, {"text"} | set(elements.mandatory), elements.choices)
        return self._keep(resource, set(elements.summary), elements.choices)

    def elements(self, resource: dict[str, Any], names: list[str]) -> dict[str, Any]:
        """Keep the listed top-level elements (`Patient.name` and `name` both accepted) and the
        mandatory ones, which the spec says a server should return."""
        res_type = resource["resourceType"]
        wanted = set()
        for name in names:
            prefix, _, rest = name.partition(".")
            wanted.add(rest.split(".")[0] if rest and prefix == res_type else prefix)
        elements = self._elements(res_type)
        return self._keep(resource, wanted | set(elements.mandatory), elements.choices)
