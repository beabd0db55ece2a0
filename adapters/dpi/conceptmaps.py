"""Code tables as FHIR ConceptMaps (mappings/dpi/conceptmaps/*.json), read once, looked up by code.

Only what the maps need from R4 ConceptMap: `group.element.target` with `dependsOn` (a condition
on another value, e.g. the assigning-authority OID that tells INS-NIR from its test variant) and
`product` (extra outputs, e.g. the frequency and period of a repeat pattern), plus `group.unmapped`
(mode `fixed` or `provided`) for codes a table does not list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson


@dataclass(frozen=True)
class Target:
    system: str | None
    code: str
    display: str | None = None
    products: dict[str, str] = field(default_factory=dict)

    def coding(self) -> dict[str, str]:
        coding = {"code": self.code}
        if self.system:
            coding = {"system": self.system, **coding}
        if self.display:
            coding["display"] = self.display
        return coding


@dataclass
class _Rule:
    depends: dict[str, str]
    target: Target


@dataclass
class ConceptMapTable:
    id: str
    url: str
    source_system: str | None
    rules: dict[str, list[_Rule]]
    unmapped: Target | None
    provided: bool  # unmapped codes map to themselves

    def translate(self, code: str, depends: dict[str, str] | None = None) -> Target | None:
        """The first target whose conditions all hold; case-insensitive on the source code."""
        for key in (code, code.upper()):
            for rule in self.rules.get(key, ()):
                if all((depends or {}).get(k, "").upper() == v.upper() for k, v in rule.depends.items()):
                    return rule.target
        if self.unmapped is not None:
            return self.unmapped
        if self.provided and code:
            return Target(None, code)
        return None

    @property
    def codes(self) -> list[str]:
        return list(self.rules)


def _load(document: dict[str, Any]) -> ConceptMapTable:
    rules: dict[str, list[_Rule]] = {}
    unmapped: Target | None = None
    provided = False
    source_system = None
    for group in document.get("group") or []:
        source_system = source_system or group.get("source")
        target_system = group.get("target")
        for element in group.get("element") or []:
            for target in element.get("target") or []:
                if target.get("equivalence") == "unmatched":
                    continue
                depends = {d["property"]: d["value"] for d in target.get("dependsOn") or []}
                products = {p["property"]: p["value"] for p in target.get("product") or []}
                rules.setdefault(element["code"], []).append(
                    _Rule(depends, Target(target_system, target.get("code", ""), target.get("display"), products)))
        spec = group.get("unmapped")
        if spec and spec.get("mode") == "fixed":
            unmapped = Target(target_system, spec["code"], spec.get("display"))
        elif spec and spec.get("mode") == "provided":
            provided = True
    return ConceptMapTable(document["id"], document.get("url", ""), source_system, rules, unmapped, provided)


class ConceptMaps:
    def __init__(self, tables: dict[str, ConceptMapTable]) -> None:
        self.tables = tables

    @classmethod
    def load(cls, folder: Path) -> ConceptMaps:
        tables = {}
        for path in sorted(folder.glob("*.json")):
            document = orjson.loads(path.read_bytes())
            if document.get("resourceType") != "ConceptMap":
                raise ValueError(f"{path} is not a ConceptMap")
            table = _load(document)
            tables[table.id.removeprefix("dpi-")] = table
        return cls(tables)

    def table(self, name: str) -> ConceptMapTable:
        try:
            return self.tables[name]
        except KeyError:
            raise KeyError(f"no ConceptMap {name!r} in mappings/dpi/conceptmaps") from None

    def translate(self, name: str, code: str, depends: dict[str, str] | None = None) -> Target | None:
        return self.table(name).translate(code, depends)
