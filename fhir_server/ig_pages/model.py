"""What the IG pages show, computed from the built guide (the same build the package download serves).

Our FSH sources write descriptions in French and leave element `short`s to R4 core, which are English.
So the English column is the R4 core short of the element, and the French column comes, in order, from
a `short` the profile itself sets, the title of the extension a slice uses, or our own glossary
(`glossary_fr.yaml`, by full path then by element name); an element none of them covers shows a dash
rather than a machine translation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ..validation.ig import BuiltIg
from ..validation.packages import PackageRegistry

CORE = "http://hl7.org/fhir/StructureDefinition/"
GLOSSARY = Path(__file__).parent / "glossary_fr.yaml"


@cache
def glossary() -> dict[str, str]:
    return {str(k): str(v) for k, v in (yaml.safe_load(GLOSSARY.read_text(encoding="utf-8")) or {}).items()}


@dataclass
class ElementRow:
    id: str
    depth: int
    cardinality: str
    types: list[str]
    binding: str
    binding_url: str
    constraints: list[str]
    short_fr: str
    short_en: str
    constrained: bool


@dataclass
class Page:
    """One conformance resource of the guide with what the templates need."""

    resource_type: str
    id: str
    title: str
    description: str
    url: str
    resource: dict[str, Any]
    examples: list[dict[str, Any]] = field(default_factory=list)


def title_of(resource: dict[str, Any]) -> str:
    return str(resource.get("title") or resource.get("name") or resource.get("id"))


def by_type(built: BuiltIg, res_type: str) -> list[dict[str, Any]]:
    found = [r for r in built.conformance.values() if r.get("resourceType") == res_type]
    return sorted(found, key=lambda r: str(r.get("id")))


def profiles(built: BuiltIg) -> list[dict[str, Any]]:
    return [r for r in by_type(built, "StructureDefinition") if r.get("type") != "Extension"]


def extensions(built: BuiltIg) -> list[dict[str, Any]]:
    return [r for r in by_type(built, "StructureDefinition") if r.get("type") == "Extension"]


def find(built: BuiltIg, res_type: str, res_id: str) -> dict[str, Any] | None:
    return next((r for r in by_type(built, res_type) if r.get("id") == res_id), None)


def examples_of(built: BuiltIg, url: str) -> list[dict[str, Any]]:
    found = [r for r in built.examples.values() if url in ((r.get("meta") or {}).get("profile") or [])]
    return sorted(found, key=lambda r: (r["resourceType"], r.get("id", "")))


def example(built: BuiltIg, res_type: str, res_id: str) -> dict[str, Any] | None:
    return next((r for r in built.examples.values() if r.get("resourceType") == res_type and r.get("id") == res_id),
                None)


def local_page(built: BuiltIg, canonical: str) -> str | None:
    """The page of one of our canonicals (`…/ValueSet/x` → `/ig/ValueSet/x`), None for foreign ones."""
    base = built.config.canonical + "/"
    if not canonical.startswith(base):
        return None
    res_type, _, res_id = canonical[len(base):].partition("/")
    res_id = res_id.split("|", 1)[0]
    return f"/ig/{res_type}/{res_id}" if find(built, res_type, res_id) else None


def _types(element: dict[str, Any]) -> list[str]:
    out = []
    for kind in element.get("type") or []:
        code = str(kind.get("code", "")).removeprefix("http://hl7.org/fhirpath/")
        targets = [t.rsplit("/", 1)[-1] for t in (kind.get("targetProfile") or [])]
        profiles_ = [p.rsplit("/", 1)[-1] for p in (kind.get("profile") or [])]
        text = code
        if targets:
            text += "(" + " | ".join(targets) + ")"
        if profiles_:
            text += " {" + ", ".join(profiles_) + "}"
        out.append(text)
    return out


def _fixed(element: dict[str, Any]) -> list[str]:
    shown = []
    for key, value in element.items():
        if key.startswith(("fixed", "pattern")) and key not in ("fixed", "pattern"):
            label = "valeur fixée" if key.startswith("fixed") else "motif imposé"
            shown.append(f"{label} : {_compact(value)}")
    return shown


def _compact(value: Any) -> str:
    if isinstance(value, dict):
        coding = value.get("coding")
        if isinstance(coding, list) and coding:
            return ", ".join(f"{c.get('system', '')}#{c.get('code', '')}" for c in coding)
        if "system" in value or "code" in value:
            return f"{value.get('system', '')}#{value.get('code', '')}".strip("#")
        return ", ".join(f"{k}={_compact(v)}" for k, v in value.items())
    return str(value)


def _core_short(registry: PackageRegistry, element: dict[str, Any]) -> str:
    base = element.get("base") or {}
    path = base.get("path") or element.get("path", "")
    root = path.split(".", 1)[0]
    definition = registry.resolve(CORE + root)
    for candidate in (definition or {}).get("snapshot", {}).get("element", []):
        if candidate.get("path") == path:
            return str(candidate.get("short") or "")
    return str(element.get("short") or "")


def _short_fr(registry: PackageRegistry, element: dict[str, Any], own: dict[str, Any] | None) -> str:
    if own and own.get("short"):
        return str(own["short"])
    words = glossary()
    slice_name = element.get("sliceName")
    for kind in element.get("type") or []:
        for url in kind.get("profile") or []:
            if slice_name and not url.startswith(CORE):
                extension = registry.resolve(url)
                if extension is not None:
                    return title_of(extension)
    path = element.get("path", "")
    if path in words:
        return words[path]
    name = path.rsplit(".", 1)[-1]
    if "." not in path:
        return words.get("(resource)", "—")
    return words.get(name, "—")


def element_rows(registry: PackageRegistry, profile: dict[str, Any]) -> list[ElementRow]:
    own = {e.get("id"): e for e in (profile.get("differential") or {}).get("element", [])}
    rows = []
    for element in (profile.get("snapshot") or {}).get("element", []):
        element_id = str(element.get("id") or element.get("path"))
        max_ = element.get("max", "*")
        if max_ == "0":
            continue  # prohibited elements are listed in the differential view of FHIR tools, not here
        binding = element.get("binding") or {}
        value_set = str(binding.get("valueSet") or "")
        constraints = [f"{c.get('key')} : {c.get('human')}" for c in element.get("constraint") or []
                       if not str(c.get("source", "")).startswith(CORE) and not str(c.get("key", "")).startswith(
                           ("ele-", "dom-", "ext-"))]
        constraints += _fixed(element)
        if element.get("maxLength"):
            constraints.append(f"longueur maximale : {element['maxLength']}")
        rows.append(ElementRow(
            id=element_id, depth=element_id.count("."), cardinality=f"{element.get('min', 0)}..{max_}",
            types=_types(element),
            binding=f"{binding.get('strength')} : {value_set.rsplit('/', 1)[-1]}" if value_set else "",
            binding_url=value_set, constraints=constraints,
            short_fr=_short_fr(registry, element, own.get(element_id)),
            short_en=_core_short(registry, element), constrained=element_id in own,
        ))
    return rows


def codes(built: BuiltIg, value_set: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(system, code, display) of a ValueSet: explicit concepts, or every concept of included systems we hold."""
    out = []
    for include in (value_set.get("compose") or {}).get("include") or []:
        system = include.get("system", "")
        concepts = include.get("concept")
        if concepts is None:
            code_system = next((r for r in built.conformance.values() if r.get("resourceType") == "CodeSystem"
                                and r.get("url") == system), None)
            concepts = (code_system or {}).get("concept") or []
        out.extend((system, str(c.get("code")), str(c.get("display") or "")) for c in concepts)
    return out
