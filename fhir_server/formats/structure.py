"""The shape of FHIR resources as read from StructureDefinition snapshots: which names an element may
contain, which of them repeat, which are primitives, choices or nested resources.

Both the XML reader and FHIRPath Patch need exactly this (XML cannot say whether an element is an
array, and patch `add` must know whether to append to a list), so it is computed once per type from
the core snapshots, lazily: a request only pays for the types it touches.
"""

from __future__ import annotations

import enum
import functools
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fhir_server.validation.packages import PackageRegistry

SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
_FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
_SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."

# Primitive types whose JSON form is not a string.
JSON_BOOLEAN_TYPES = frozenset({"boolean"})
JSON_INTEGER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt"})
JSON_NUMBER_TYPES = JSON_INTEGER_TYPES | {"decimal"}


class Kind(enum.Enum):
    PRIMITIVE = "primitive"
    COMPLEX = "complex"
    RESOURCE = "resource"
    XHTML = "xhtml"


@dataclass(frozen=True, slots=True)
class Context:
    """Where the children of an element are defined: the snapshot of `type_name`, under `path`."""

    type_name: str
    path: str


@dataclass(frozen=True, slots=True)
class Child:
    """One concrete element name (`valueDate`, not `value[x]`) allowed inside a context."""

    name: str
    base_name: str
    path: str
    type_code: str
    kind: Kind
    repeats: bool
    attribute: bool
    choice: bool
    context: Context | None  # where this child's own children are defined (complex kinds only)


@dataclass(slots=True)
class Children:
    """All children of one context, by concrete name and, for choice elements, by base name."""

    by_name: dict[str, Child] = field(default_factory=dict)
    choices: dict[str, dict[str, Child]] = field(default_factory=dict)

    def element(self, base_name: str) -> list[Child]:
        """Every concrete form of `base_name` (one unless it is a choice element)."""
        if base_name in self.choices:
            return list(self.choices[base_name].values())
        child = self.by_name.get(base_name)
        return [child] if child is not None and not child.choice else []


def choice_name(base_name: str, type_code: str) -> str:
    return base_name + type_code[0].upper() + type_code[1:]


def _type_code(type_entry: dict[str, Any]) -> str:
    """R4 snapshots write `id`, `url` and primitive values as FHIRPath System types; the FHIR type
    they stand for is in an extension, which is what JSON and XML follow."""
    code: str = type_entry["code"]
    if not code.startswith(_SYSTEM_PREFIX):
        return code
    for ext in type_entry.get("extension", ()):
        if ext.get("url") == _FHIR_TYPE_EXT and ext.get("valueUrl"):
            return str(ext["valueUrl"])
    system = code[len(_SYSTEM_PREFIX) :]
    return system[0].lower() + system[1:]


class StructureModel:
    """Resource and datatype shapes of the packages of one registry."""

    def __init__(self, registry: PackageRegistry) -> None:
        self.registry = registry
        self._lock = threading.Lock()
        self._by_parent: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self._children: dict[Context, Children] = {}
        self._resource_types: dict[str, bool] = {}
        self._base_type: dict[str, str | None] = {}

    # -- type lookup -------------------------------------------------------------------------

    def _definition(self, type_name: str) -> dict[str, Any] | None:
        sd = self.registry.resolve(SD_PREFIX + type_name)
        if sd is None or sd.get("resourceType") != "StructureDefinition" or "snapshot" not in sd:
            return None
        return sd

    def base_type(self, type_code: str) -> str | None:
        """The specialization a type code stands for (`SimpleQuantity` → `Quantity`), or None."""
        if type_code not in self._base_type:
            sd = self._definition(type_code)
            self._base_type[type_code] = None if sd is None else str(sd["type"])
        return self._base_type[type_code]

    def derives_from(self, type_code: str, ancestor: str) -> bool:
        """True when `type_code` is `ancestor` or specialises it (`Age` → `Quantity`)."""
        seen = 0
        current: str | None = type_code
        while current and seen < 16:
            if current == ancestor:
                return True
            sd = self._definition(current)
            base = sd.get("baseDefinition") if sd else None
            current = base.rsplit("/", 1)[1] if isinstance(base, str) and base.startswith(SD_PREFIX) else None
            seen += 1
        return False

    def is_resource_type(self, name: str) -> bool:
        """True for concrete resource types (`Patient`), false for abstract ones and datatypes."""
        known = self._resource_types.get(name)
        if known is None:
            sd = self._definition(name)
            known = (
                sd is not None
                and sd.get("kind") == "resource"
                and sd.get("derivation") == "specialization"
                and not sd.get("abstract", False)
                and sd.get("type") == name
            )
            self._resource_types[name] = known
        return known

    def resource_context(self, resource_type: str) -> Context | None:
        return Context(resource_type, resource_type) if self.is_resource_type(resource_type) else None

    def type_context(self, type_code: str) -> Context | None:
        base = self.base_type(type_code)
        return Context(base, base) if base else None

    # -- children ------------------------------------------------------------------------------

    def _elements_by_parent(self, type_name: str) -> dict[str, list[dict[str, Any]]]:
        table = self._by_parent.get(type_name)
        if table is None:
            sd = self._definition(type_name)
            table = {}
            if sd is not None:
                for element in sd["snapshot"]["element"][1:]:
                    if element.get("sliceName"):
                        continue
                    parent, _, _ = element["path"].rpartition(".")
                    table.setdefault(parent, []).append(element)
            self._by_parent[type_name] = table
        return table

    def children(self, context: Context) -> Children:
        found = self._children.get(context)
        if found is None:
            with self._lock:
                found = self._children.get(context)
                if found is None:
                    found = self._build_children(context)
                    self._children[context] = found
        return found

    def _build_children(self, context: Context) -> Children:
        table = self._elements_by_parent(context.type_name)
        out = Children()
        for element in table.get(context.path, ()):
            out_children = self._element_children(context, element, table)
            for child in out_children:
                out.by_name[child.name] = child
                if child.choice:
                    out.choices.setdefault(child.base_name, {})[child.type_code] = child
        return out

    def _element_children(
        self, context: Context, element: dict[str, Any], table: dict[str, list[dict[str, Any]]]
    ) -> Iterable[Child]:
        path: str = element["path"]
        last = path.rsplit(".", 1)[1]
        repeats = element.get("max", "1") != "1"
        attribute = "xmlAttr" in element.get("representation", ())
        reference = element.get("contentReference")
        if reference:
            # Recursive structures (Questionnaire.item.item) point back at an earlier path.
            target = reference.split("#", 1)[1]
            yield Child(
                last,
                last,
                path,
                "BackboneElement",
                Kind.COMPLEX,
                repeats,
                attribute,
                False,
                Context(context.type_name, target),
            )
            return
        types = [_type_code(t) for t in element.get("type", ())]
        choice = last.endswith("[x]")
        base_name = last[:-3] if choice else last
        for code in types:
            name = choice_name(base_name, code) if choice else base_name
            kind, child_context = self._classify(context, path, code, table)
            yield Child(name, base_name, path, code, kind, repeats, attribute, choice, child_context)

    def _classify(
        self, context: Context, path: str, code: str, table: dict[str, list[dict[str, Any]]]
    ) -> tuple[Kind, Context | None]:
        if code == "xhtml":
            return Kind.XHTML, None
        if code[0].islower():
            return Kind.PRIMITIVE, None
        if code in ("Resource", "DomainResource") or self.is_resource_type(code):
            return Kind.RESOURCE, None
        if path in table:
            # BackboneElement (or Element, e.g. Timing.repeat) defined inline in this snapshot.
            return Kind.COMPLEX, Context(context.type_name, path)
        return Kind.COMPLEX, self.type_context(code)


@functools.cache
def structure_model(registry: PackageRegistry) -> StructureModel:
    """One shared model per registry, so that its lazily built tables are reused by every request."""
    return StructureModel(registry)
