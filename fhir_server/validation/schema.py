"""StructureDefinition snapshots compiled into flat lookup tables for the instance walker.

A snapshot is a list of ElementDefinitions keyed by dotted paths; walking a JSON instance needs the
opposite view: for one object, which JSON property names are allowed and what each must hold. Each
type (or profile, or backbone element) becomes a `TypeSchema` whose `elements` dict maps every JSON
property name (choice types expanded to `valueString`, `valueQuantity`...) to an `ElementRule`.
Compilation happens once per type on first use; types refer to each other by object, so cycles
(Identifier -> Reference -> Identifier, Extension -> Extension) are built shell-first.

FHIRPath invariants are kept (`constraints`) but not evaluated here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .bindings import ValueSetExpander
from .packages import PackageRegistry
from .primitives import SD_BASE, PrimitiveType, PrimitiveTypes

FHIR_TYPE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
UNBOUNDED = 2**62

# Element kinds, as small ints so the walker dispatches with identity comparisons.
PRIMITIVE = 0  # a FHIR primitive: JSON scalar, may have a `_name` sibling with id/extension
ATTRIBUTE = 1  # Element.id, Extension.url, Resource.id, Narrative.div: scalar, no `_name` sibling
COMPLEX = 2  # a datatype or backbone element: JSON object
RESOURCE = 3  # a whole resource (contained, Bundle.entry.resource): validated as its own resourceType
PROHIBITED = 4  # max cardinality 0 in a profile (e.g. SimpleQuantity.comparator)

_PRIMITIVE_NAMES = frozenset(
    {
        "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id", "instant",
        "integer", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt", "uri", "url", "uuid",
        "xhtml",
    }
)  # fmt: skip
_ABSTRACT_RESOURCES = frozenset({"Resource", "DomainResource"})


class SchemaError(Exception):
    """A StructureDefinition needed for validation is missing or unusable (a setup problem)."""


@dataclass(frozen=True, slots=True)
class Constraint:
    """One ElementDefinition.constraint, kept for the FHIRPath invariant checker."""

    key: str
    severity: str
    human: str
    expression: str | None
    source: str | None


@dataclass(slots=True, eq=False)
class ElementRule:
    """What one JSON property of an object must hold."""

    key: str  # JSON property name, e.g. "valueQuantity"
    path: str  # ElementDefinition path, e.g. "Observation.value[x]"
    min: int
    max: int  # UNBOUNDED for "*"
    is_array: bool  # max is not "1" (nor "0")
    kind: int
    type_name: str  # FHIR type of the JSON value, e.g. "string", "HumanName", "BackboneElement"
    primitive: PrimitiveType | None = None
    schema: TypeSchema | None = None  # COMPLEX kinds
    choice: str | None = None  # the choice element's base name ("value") when from `value[x]`
    codes: frozenset[str] | None = None  # required binding on a code, when expandable
    value_set: str | None = None  # the bound ValueSet of a required binding on a code
    constraints: tuple[Constraint, ...] = ()
    definition: dict[str, Any] | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class RequiredRule:
    """An element with min >= 1: present when any of `keys` is in the object."""

    label: str  # "status", "value[x]"
    keys: tuple[str, ...]
    min: int


@dataclass(slots=True, eq=False)
class TypeSchema:
    """The allowed content of one JSON object of a type, profile or backbone element."""

    name: str  # "Patient", "HumanName", "Questionnaire.item"
    url: str | None
    is_resource: bool = False
    elements: dict[str, ElementRule] = field(default_factory=dict)
    required: tuple[RequiredRule, ...] = ()
    has_choices: bool = False
    constraints: tuple[Constraint, ...] = ()


def _type_code(type_: dict[str, Any]) -> str:
    """The FHIR type name of an ElementDefinition.type; System.* codes name theirs in an extension."""
    code: str = type_["code"]
    if code.startswith(SYSTEM_PREFIX):
        for ext in type_.get("extension", []):
            if ext.get("url") == FHIR_TYPE_EXTENSION:
                return str(ext.get("valueUrl") or ext.get("valueUri") or "string")
        return "string"
    return code


def _max(text: str) -> int:
    return UNBOUNDED if text == "*" else int(text)


class SchemaCompiler:
    """Compiles and caches schemas for the StructureDefinitions of a registry; thread-safe."""

    def __init__(self, registry: PackageRegistry) -> None:
        self._registry = registry
        self.primitives = PrimitiveTypes(registry)
        self.value_sets = ValueSetExpander(registry)
        self._ready: dict[str, TypeSchema] = {}
        self._building: dict[str, TypeSchema] = {}
        self._constraints: dict[tuple[str, str | None, str | None], Constraint] = {}
        self._lock = threading.RLock()
        self._resource_types: frozenset[str] | None = None

    # -- public lookups -------------------------------------------------------------------------

    @property
    def resource_types(self) -> frozenset[str]:
        """Concrete resource types: the codes of the R4 `resource-types` CodeSystem that have a
        StructureDefinition, minus the abstract bases. Read from two small files, not 146 large ones."""
        if self._resource_types is None:
            code_system = self._registry.resolve("http://hl7.org/fhir/resource-types") or {}
            defined = {entry.url for entry in self._registry.index_entries("StructureDefinition")}
            codes = {c["code"] for c in code_system.get("concept", []) if "code" in c}
            self._resource_types = frozenset(
                code for code in codes if SD_BASE + code in defined and code not in _ABSTRACT_RESOURCES
            )
        return self._resource_types

    def schema(self, url: str) -> TypeSchema:
        """The compiled schema of the StructureDefinition at canonical `url`."""
        found = self._ready.get(url)
        if found is not None:
            return found
        with self._lock:
            found = self._ready.get(url)
            if found is None:
                found = self._compile(url)
            return found

    def type_schema(self, type_name: str) -> TypeSchema:
        return self.schema(SD_BASE + type_name)

    # -- compilation ----------------------------------------------------------------------------

    def _compile(self, url: str) -> TypeSchema:
        """Compile `url` and everything it reaches; publish them together once complete, so other
        threads never see a half-built shell."""
        outermost = not self._building
        try:
            schema = self._shell(url)
        finally:
            if outermost:
                built, self._building = self._building, {}
        if outermost:
            self._ready.update(built)
        return schema

    def _shell(self, url: str) -> TypeSchema:
        existing = self._ready.get(url) or self._building.get(url)
        if existing is not None:
            return existing
        definition = self._registry.resolve(url)
        if definition is None or definition.get("resourceType") != "StructureDefinition":
            raise SchemaError(f"StructureDefinition {url} is not loaded")
        elements = (definition.get("snapshot") or {}).get("element")
        if not elements:
            raise SchemaError(f"StructureDefinition {url} has no snapshot")
        root = elements[0]["path"]
        schema = TypeSchema(
            name=root,
            url=url,
            is_resource=definition.get("kind") == "resource",
            constraints=self._constraints_of(elements[0]),
        )
        self._building[url] = schema
        self._fill(schema, [e for e in elements[1:] if "sliceName" not in e])
        return schema

    def _fill(self, root: TypeSchema, elements: list[dict[str, Any]]) -> None:
        """Build the root schema and one schema per backbone element from a snapshot."""
        paths = [e["path"] for e in elements]
        parents = {path.rsplit(".", 1)[0] for path in paths}
        schemas: dict[str, TypeSchema] = {root.name: root}
        for element in elements:
            path = element["path"]
            if path in parents:
                schemas[path] = TypeSchema(name=path, url=None, constraints=self._constraints_of(element))
        required: dict[str, list[RequiredRule]] = {}
        for element in elements:
            path = element["path"]
            parent_path, name = path.rsplit(".", 1)
            parent = schemas.get(parent_path)
            if parent is None:
                continue  # below an element that is not a backbone (should not happen in snapshots)
            rules = self._rules(element, name, schemas)
            for rule in rules:
                parent.elements[rule.key] = rule
            if rules and rules[0].choice is not None:
                parent.has_choices = True
            minimum = int(element.get("min", 0))
            if minimum > 0 and rules:
                keys: list[str] = []
                for rule in rules:
                    keys.append(rule.key)
                    if rule.kind == PRIMITIVE:
                        keys.append("_" + rule.key)
                required.setdefault(parent.name, []).append(RequiredRule(name, tuple(keys), minimum))
        for schema_path, rules_ in required.items():
            schemas[schema_path].required = tuple(rules_)

    def _rules(self, element: dict[str, Any], name: str, schemas: dict[str, TypeSchema]) -> list[ElementRule]:
        """The rules of one ElementDefinition: one per JSON name (several for a choice)."""
        path = element["path"]
        maximum = _max(element.get("max", "*"))
        common: dict[str, Any] = {
            "path": path,
            "min": int(element.get("min", 0)),
            "max": maximum,
            "is_array": maximum > 1,
            "constraints": self._constraints_of(element),
            "definition": element,
        }
        if maximum == 0:
            base = name[:-3] if name.endswith("[x]") else name
            return [ElementRule(key=base, kind=PROHIBITED, type_name="", **common)]
        reference = element.get("contentReference")
        if reference:
            target = schemas.get(reference.lstrip("#").split("#")[-1])
            if target is None:
                raise SchemaError(f"{path}: contentReference {reference} not found")
            return [ElementRule(key=name, kind=COMPLEX, type_name="BackboneElement", schema=target, **common)]
        if path in schemas:  # inline backbone element: its children follow in the snapshot
            type_name = element["type"][0]["code"] if element.get("type") else "BackboneElement"
            return [ElementRule(key=name, kind=COMPLEX, type_name=type_name, schema=schemas[path], **common)]
        types = element.get("type") or []
        if not types:
            raise SchemaError(f"{path} has no type")
        if name.endswith("[x]"):
            base = name[:-3]
            rules = []
            for type_ in types:
                code = _type_code(type_)
                rule = self._typed(base + code[0].upper() + code[1:], type_, element, common)
                rule.choice = base
                rules.append(rule)
            return rules
        return [self._typed(name, types[0], element, common)]

    def _typed(self, key: str, type_: dict[str, Any], element: dict[str, Any], common: dict[str, Any]) -> ElementRule:
        raw_code = type_["code"]
        code = _type_code(type_)
        path = common["path"]
        if raw_code.startswith(SYSTEM_PREFIX) or code == "xhtml":
            # R4 spells Resource.id as System.String; the spec and every server treat it as an `id`.
            if path.count(".") == 1 and path.endswith(".id") and self._is_resource_root(path):
                code = "id"
            return ElementRule(key=key, kind=ATTRIBUTE, type_name=code, primitive=self.primitives.get(code), **common)
        if code in _PRIMITIVE_NAMES:
            rule = ElementRule(key=key, kind=PRIMITIVE, type_name=code, primitive=self.primitives.get(code), **common)
            binding = element.get("binding") or {}
            if code == "code" and binding.get("strength") == "required" and binding.get("valueSet"):
                rule.value_set = binding["valueSet"]
                rule.codes = self.value_sets.codes(binding["valueSet"])
            return rule
        if code in ("Resource", "DomainResource") or code in self.resource_types:
            return ElementRule(key=key, kind=RESOURCE, type_name=code, **common)
        profiles = type_.get("profile") or []
        target_url = profiles[0] if len(profiles) == 1 and self._registry.resolve(profiles[0]) else SD_BASE + code
        return ElementRule(key=key, kind=COMPLEX, type_name=code, schema=self._shell(target_url), **common)

    def _is_resource_root(self, path: str) -> bool:
        root = path.split(".", 1)[0]
        return root in self.resource_types or root in _ABSTRACT_RESOURCES

    def _constraints_of(self, element: dict[str, Any]) -> tuple[Constraint, ...]:
        """Constraints shared between elements (ele-1 is on all of them) are interned."""
        out = []
        for item in element.get("constraint") or []:
            identity = (item.get("key", ""), item.get("expression"), item.get("source"))
            constraint = self._constraints.get(identity)
            if constraint is None:
                constraint = self._constraints[identity] = Constraint(
                    key=identity[0],
                    severity=item.get("severity", "error"),
                    human=item.get("human", ""),
                    expression=identity[1],
                    source=identity[2],
                )
            out.append(constraint)
        return tuple(out)
