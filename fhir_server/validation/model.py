"""Profile snapshots compiled into element trees for the profile walker.

A snapshot is a flat list; validation needs, for one JSON object, the elements that may appear in it
with everything a profile says about them. Each ElementDefinition becomes an `ElementNode` with its
children by name and, when it is sliced, its slices (each a node with its own children). Elements
whose children are not listed (datatypes, extension slices) get them from their type's definition at
validation time (`ProfileCompiler.type_root`), so a profile only carries what it changes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .packages import PackageRegistry
from .primitives import SD_BASE
from .schema import UNBOUNDED, Constraint
from .snapshot import SnapshotGenerator, split_id

BEST_PRACTICE = "http://hl7.org/fhir/StructureDefinition/elementdefinition-bestpractice"
FHIR_TYPE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
NO_VALUE = object()


class ProfileError(Exception):
    """A profile cannot be compiled (not loaded, no snapshot, broken snapshot)."""


@dataclass(frozen=True, slots=True)
class TypeRef:
    code: str
    profiles: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Binding:
    strength: str
    value_set: str


@dataclass(frozen=True, slots=True)
class Discriminator:
    type: str  # value | pattern | exists | type | profile
    path: str


@dataclass(frozen=True, slots=True)
class Slicing:
    discriminators: tuple[Discriminator, ...]
    rules: str  # open | closed | openAtEnd
    ordered: bool


@dataclass(slots=True, eq=False)
class ElementNode:
    id: str
    path: str
    name: str  # last path segment: "identifier", "value[x]"
    min: int
    max: int
    types: tuple[TypeRef, ...]
    slice_name: str | None = None
    fixed: Any = NO_VALUE
    pattern: Any = NO_VALUE
    binding: Binding | None = None
    constraints: tuple[Constraint, ...] = ()
    max_length: int | None = None
    min_value: Any = None
    max_value: Any = None
    content_reference: str | None = None
    children: dict[str, ElementNode] = field(default_factory=dict)
    slicing: Slicing | None = None
    slices: list[ElementNode] = field(default_factory=list)
    profile_url: str | None = None  # the StructureDefinition the element comes from
    # Filled on first use by the walker: JSON key -> (child, type code), and the children with min > 0.
    keys: dict[str, tuple[ElementNode, str]] | None = None
    required: tuple[ElementNode, ...] = ()
    choice_stems: dict[str, ElementNode] | None = None

    @property
    def is_choice(self) -> bool:
        return self.name.endswith("[x]")

    @property
    def type_codes(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.types)

    def type_ref(self, code: str) -> TypeRef | None:
        for type_ in self.types:
            if type_.code == code:
                return type_
        return None


def _type_code(type_: dict[str, Any]) -> str:
    code = str(type_.get("code", ""))
    if code.startswith(SYSTEM_PREFIX):
        for ext in type_.get("extension") or []:
            if ext.get("url") == FHIR_TYPE_EXTENSION:
                return str(ext.get("valueUrl") or ext.get("valueUri") or "string")
        return "string"
    return code


def _prefixed(element: dict[str, Any], prefix: str) -> Any:
    for key, value in element.items():
        if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1].isupper():
            return value
    return NO_VALUE


class ProfileCompiler:
    """Compiles StructureDefinitions (generating snapshots when needed) into element trees."""

    def __init__(self, registry: PackageRegistry, snapshots: SnapshotGenerator | None = None) -> None:
        self._registry = registry
        self.snapshots = snapshots or SnapshotGenerator(registry)
        self._roots: dict[str, ElementNode] = {}
        self._definitions: dict[str, dict[str, Any]] = {}
        self._constraints: dict[tuple[str, str | None, str | None, str], Constraint] = {}
        self._lock = threading.RLock()

    def definition(self, url: str) -> dict[str, Any]:
        """The StructureDefinition with a snapshot (generated when it has none)."""
        found = self._definitions.get(url)
        if found is None:
            try:
                found = self.snapshots.ensure(url)
            except Exception as exc:
                raise ProfileError(str(exc)) from exc
            self._definitions[url] = found
        return found

    def knows(self, url: str) -> bool:
        found = self._registry.resolve(url)
        return found is not None and found.get("resourceType") == "StructureDefinition"

    def root(self, url: str) -> ElementNode:
        """The root element node of the profile (or base type) at canonical `url`."""
        found = self._roots.get(url)
        if found is None:
            with self._lock:
                found = self._roots.get(url)
                if found is None:
                    found = self._roots[url] = self._compile(url)
        return found

    def type_root(self, code: str, profiles: tuple[str, ...] = ()) -> ElementNode | None:
        """The node whose children describe a value of type `code` (with its profile when it has
        exactly one that we hold); None for primitives' system types."""
        if len(profiles) == 1 and self.knows(profiles[0]):
            return self.root(profiles[0])
        if not code or code.startswith(SYSTEM_PREFIX):
            return None
        try:
            return self.root(SD_BASE + code)
        except ProfileError:
            return None

    def _compile(self, url: str) -> ElementNode:
        definition = self.definition(url)
        elements = definition["snapshot"]["element"]
        nodes: dict[str, ElementNode] = {}
        root: ElementNode | None = None
        for element in elements:
            element_id = element.get("id") or element["path"]
            node = self._node(element, element_id)
            node.profile_url = url
            nodes[element_id] = node
            segments = split_id(element_id)
            if len(segments) == 1:
                root = node
                continue
            last = segments[-1]
            name, _, slice_name = last.partition(":")
            if slice_name:
                # A slice hangs off the unsliced element (or, for a reslice `a/b`, off slice `a`).
                owner_slice, _, _ = slice_name.rpartition("/")
                owner_id = ".".join(segments[:-1] + [name + (":" + owner_slice if owner_slice else "")])
                owner = nodes.get(owner_id)
                if owner is not None:
                    owner.slices.append(node)
                continue
            parent = nodes.get(".".join(segments[:-1]))
            if parent is not None:
                parent.children[name] = node
        if root is None:
            raise ProfileError(f"{url} has an empty snapshot")
        for node in nodes.values():
            if node.content_reference and not node.children:
                target = nodes.get(node.content_reference)
                if target is not None:
                    node.children = target.children
                    if not node.types:
                        node.types = target.types or (TypeRef("BackboneElement"),)
        return root

    def _node(self, element: dict[str, Any], element_id: str) -> ElementNode:
        path = element["path"]
        maximum = element.get("max", "*")
        binding = element.get("binding") or {}
        types = tuple(
            TypeRef(
                _type_code(t),
                tuple(t.get("profile") or ()),
                tuple(t.get("targetProfile") or ()),
            )
            for t in element.get("type") or []
        )
        slicing = None
        if element.get("slicing"):
            raw = element["slicing"]
            slicing = Slicing(
                tuple(
                    Discriminator(d.get("type", "value"), d.get("path", "$this"))
                    for d in raw.get("discriminator") or []
                ),
                raw.get("rules", "open"),
                bool(raw.get("ordered", False)),
            )
        return ElementNode(
            id=element_id,
            path=path,
            name=path.rsplit(".", 1)[-1],
            min=int(element.get("min", 0)),
            max=UNBOUNDED if maximum == "*" else int(maximum),
            types=types,
            slice_name=element.get("sliceName"),
            fixed=_prefixed(element, "fixed"),
            pattern=_prefixed(element, "pattern"),
            binding=Binding(binding["strength"], binding["valueSet"])
            if binding.get("valueSet") and binding.get("strength") in ("required", "extensible")
            else None,
            constraints=self._constraints_of(element),
            max_length=element.get("maxLength"),
            min_value=_prefixed(element, "minValue") if _prefixed(element, "minValue") is not NO_VALUE else None,
            max_value=_prefixed(element, "maxValue") if _prefixed(element, "maxValue") is not NO_VALUE else None,
            content_reference=(element.get("contentReference") or "").split("#", 1)[-1] or None,
            slicing=slicing,
        )

    def _constraints_of(self, element: dict[str, Any]) -> tuple[Constraint, ...]:
        out = []
        for item in element.get("constraint") or []:
            if not item.get("expression") or item.get("key") == "ele-1":
                continue
            best_practice = any(
                e.get("url") == BEST_PRACTICE and e.get("valueBoolean") for e in item.get("extension") or []
            )
            severity = "information" if best_practice else item.get("severity", "error")
            identity = (item.get("key", ""), item.get("expression"), item.get("source"), severity)
            found = self._constraints.get(identity)
            if found is None:
                found = self._constraints[identity] = Constraint(
                    key=identity[0], severity=severity, human=item.get("human", ""),
                    expression=identity[1], source=identity[2],
                )
            out.append(found)
        return tuple(out)
