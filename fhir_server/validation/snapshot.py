"""Snapshot generation: a StructureDefinition's differential applied to its base's snapshot.

Validation needs every element of a profile with its inherited definition; SUSHI (and many hand
written profiles) publish only differentials. The algorithm works on element ids:

- the base snapshot is copied (the base is itself generated first when it lacks a snapshot);
- each differential element is located by id (`Patient.identifier:ins.system`). When the path goes
  below an element whose children are not yet listed (a datatype such as Identifier, or an
  extension slice), the children are copied in from the type's snapshot, from the type's profile when
  it names exactly one, or from the element a `contentReference` points to;
- a slice that does not exist yet is created as a copy of the sliced element and its children;
  `value[x]:valueQuantity` (and the R4 spelling `valueQuantity`) makes a type slice of the choice;
- the differential's properties are merged in: cardinality, types, fixed/pattern values, bindings,
  slicing and text replace the base's; constraints, conditions and mappings are added.

Specialisations (new types, logical models) must ship their own snapshot: we never define types.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from .packages import PackageRegistry
from .primitives import SD_BASE

# Properties that accumulate instead of replacing the base's.
_APPENDED = ("constraint", "condition", "mapping")
_IGNORED = ("id", "path", "sliceName", "base")
_BINDABLE = frozenset({"code", "Coding", "CodeableConcept", "Quantity", "string", "uri"})


class SnapshotError(Exception):
    """A differential cannot be applied (unknown path, ambiguous type, missing base)."""


def split_id(element_id: str) -> list[str]:
    """`Patient.identifier:ins.system` -> ["Patient", "identifier:ins", "system"]. Slice names are
    tokens without dots, so a plain split is exact."""
    return element_id.split(".")


def _capitalise(code: str) -> str:
    return code[:1].upper() + code[1:]


def _element_id(element: dict[str, Any]) -> str:
    found = element.get("id")
    if found:
        return str(found)
    path = str(element["path"])
    return f"{path}:{element['sliceName']}" if element.get("sliceName") else path


class SnapshotGenerator:
    """Generates and caches snapshots for the StructureDefinitions of a registry; thread-safe."""

    def __init__(self, registry: PackageRegistry) -> None:
        self._registry = registry
        self._generated: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()

    def ensure(self, url: str) -> dict[str, Any]:
        """The StructureDefinition at `url` with a snapshot: the published one when present."""
        found = self._generated.get(url)
        if found is not None:
            return found
        definition = self._registry.resolve(url)
        if definition is None or definition.get("resourceType") != "StructureDefinition":
            raise SnapshotError(f"StructureDefinition {url} is not loaded")
        if (definition.get("snapshot") or {}).get("element"):
            return definition
        with self._lock:
            found = self._generated.get(url)
            if found is None:
                found = self._generated[url] = self.generate(definition)
            return found

    def generate(self, definition: dict[str, Any]) -> dict[str, Any]:
        """A copy of `definition` whose snapshot is computed from its differential (an existing
        snapshot is ignored, so published snapshots can be compared with ours)."""
        url = definition.get("url", "?")
        if definition.get("derivation") == "specialization" or not definition.get("baseDefinition"):
            raise SnapshotError(f"{url}: only constraint profiles are generated; specialisations ship a snapshot")
        base = self.ensure(definition["baseDefinition"])
        elements = [copy.deepcopy(e) for e in base["snapshot"]["element"]]
        for element in elements:
            element["id"] = _element_id(element)
        root_type = definition.get("type") or base.get("type")
        work = _Work(self, elements, url)
        for diff in (definition.get("differential") or {}).get("element") or []:
            work.apply(diff)
        out = {k: v for k, v in definition.items() if k != "snapshot"}
        out["snapshot"] = {"element": work.elements}
        if root_type and elements and elements[0]["path"] != root_type:
            raise SnapshotError(f"{url}: base {base.get('url')} is a {elements[0]['path']}, not a {root_type}")
        return out

    def type_definition(self, code: str, profiles: list[str]) -> dict[str, Any]:
        """The snapshot that describes the children of an element of type `code`."""
        if len(profiles) == 1 and self._registry.resolve(profiles[0]) is not None:
            return self.ensure(profiles[0])
        return self.ensure(SD_BASE + code)


class _Work:
    """One generation in progress: the element list and the operations on it."""

    def __init__(self, generator: SnapshotGenerator, elements: list[dict[str, Any]], url: str) -> None:
        self.generator = generator
        self.elements = elements
        self.url = url
        # Choices whose type slices the profile introduced without slicing them, and the types named.
        self.implicit: dict[str, bool] = {}
        self.named: dict[str, list[dict[str, Any]]] = {}

    # -- lookups --------------------------------------------------------------------------------

    def index(self, element_id: str) -> int | None:
        for i, element in enumerate(self.elements):
            if element["id"] == element_id:
                return i
        return None

    def subtree_end(self, i: int, with_slices: bool = False) -> int:
        """Index after the children of element i (and after its slices when asked)."""
        own = self.elements[i]["id"]
        prefixes = (own + ".", own + ":") if with_slices else (own + ".",)
        end = i + 1
        while end < len(self.elements) and self.elements[end]["id"].startswith(prefixes):
            end += 1
        return end

    def child(self, parent: int, name: str) -> int | None:
        wanted = self.elements[parent]["id"] + "." + name
        for j in range(parent + 1, self.subtree_end(parent)):
            if self.elements[j]["id"] == wanted:
                return j
        return None

    # -- applying one differential element ------------------------------------------------------

    def apply(self, diff: dict[str, Any]) -> None:
        segments = split_id(_element_id(diff))
        if self.elements[0]["id"] != segments[0]:
            raise SnapshotError(f"{self.url}: element {_element_id(diff)} is not below {self.elements[0]['id']}")
        current = 0
        for segment in segments[1:]:
            name, _, slice_name = segment.partition(":")
            current = self.locate_child(current, name, diff)
            if slice_name:
                current = self.locate_slice(current, slice_name, diff)
        self.merge(self.elements[current], diff)

    def locate_child(self, parent: int, name: str, diff: dict[str, Any]) -> int:
        found = self.child(parent, name)
        if found is not None:
            return found
        if self.subtree_end(parent) == parent + 1:
            self.expand(parent)
            found = self.child(parent, name)
            if found is not None:
                return found
        # R4 spelling of a type choice: `valueQuantity` for `value[x]` restricted to Quantity.
        for j in range(parent + 1, self.subtree_end(parent)):
            element = self.elements[j]
            base_name = element["id"].rsplit(".", 1)[-1]
            if not base_name.endswith("[x]") or element["id"].count(".") != self.elements[parent]["id"].count(".") + 1:
                continue
            stem = base_name[:-3]
            for type_ in element.get("type") or []:
                if stem + _capitalise(type_["code"]) == name:
                    element["type"] = [t for t in element["type"] if t["code"] == type_["code"]]
                    return self.locate_slice(j, name, diff)
        raise SnapshotError(f"{self.url}: no element {self.elements[parent]['id']}.{name}")

    def locate_slice(self, sliced: int, slice_name: str, diff: dict[str, Any]) -> int:
        own = self.elements[sliced]["id"]
        wanted = f"{own}:{slice_name}"
        end = self.subtree_end(sliced, with_slices=True)
        for j in range(sliced + 1, end):
            if self.elements[j]["id"] == wanted:
                return j
        # New slice: a copy of the sliced element and its children, placed after the last slice.
        source = self.elements[sliced : self.subtree_end(sliced)]
        copies = []
        for element in source:
            clone = copy.deepcopy(element)
            clone["id"] = wanted + element["id"][len(own) :]
            copies.append(clone)
        head = copies[0]
        head["sliceName"] = slice_name.rsplit("/", 1)[-1]
        head.pop("slicing", None)
        head["min"] = 0
        base_name = own.rsplit(".", 1)[-1].split(":")[0]
        if base_name.endswith("[x]"):
            self.type_slice(sliced, head, base_name[:-3], slice_name)
        self.elements[end:end] = copies
        return end

    def type_slice(self, sliced: int, head: dict[str, Any], stem: str, slice_name: str) -> None:
        """`value[x]:valueQuantity`: the slice takes only that type. When the choice was not sliced
        by the profile, naming type slices restricts the choice to those types (the R4 convention);
        the choice then gets a type slicing so that the slices apply."""
        choice = self.elements[sliced]
        kept = [t for t in head.get("type") or [] if stem + _capitalise(t["code"]) == slice_name]
        if kept:
            head["type"] = kept
            if not any(t["code"] in _BINDABLE for t in kept):
                head.pop("binding", None)  # the choice's binding is about its coded types
        implicit = self.implicit.setdefault(choice["id"], "slicing" not in choice)
        if implicit:
            named = self.named.setdefault(choice["id"], [])
            named.extend(t for t in kept if t not in named)
            choice["type"] = copy.deepcopy(named)
        choice.setdefault("slicing", {"discriminator": [{"type": "type", "path": "$this"}], "rules": "open"})

    def expand(self, i: int) -> None:
        """Insert the children of element i from its type (or content reference) right after it."""
        element = self.elements[i]
        own_id, own_path = element["id"], element["path"]
        reference = element.get("contentReference")
        if reference:
            target = reference.split("#", 1)[-1]
            source_index = self.index(target)
            if source_index is None:
                raise SnapshotError(f"{self.url}: {own_id} refers to unknown element {target}")
            source = self.elements[source_index + 1 : self.subtree_end(source_index)]
            root_id, root_path = target, self.elements[source_index]["path"]
            element.pop("contentReference", None)
            element["type"] = copy.deepcopy(self.elements[source_index].get("type") or [{"code": "BackboneElement"}])
        else:
            types = element.get("type") or []
            if len(types) != 1:
                codes = ", ".join(t.get("code", "?") for t in types) or "none"
                raise SnapshotError(f"{self.url}: cannot constrain below {own_id}: it has several types ({codes})")
            definition = self.generator.type_definition(types[0]["code"], types[0].get("profile") or [])
            snapshot = definition["snapshot"]["element"]
            source = snapshot[1:]
            root_id = _element_id(snapshot[0])
            root_path = snapshot[0]["path"]
        children = []
        for child in source:
            clone = copy.deepcopy(child)
            clone["id"] = own_id + _element_id(child)[len(root_id) :]
            clone["path"] = own_path + child["path"][len(root_path) :]
            children.append(clone)
        self.elements[i + 1 : i + 1] = children

    @staticmethod
    def merge(target: dict[str, Any], diff: dict[str, Any]) -> None:
        for key, value in diff.items():
            if key in _IGNORED:
                continue
            if key in _APPENDED:
                existing = target.setdefault(key, [])
                for item in value:
                    if key == "constraint":
                        existing[:] = [c for c in existing if c.get("key") != item.get("key")]
                    if item not in existing:
                        existing.append(copy.deepcopy(item))
            elif key in ("binding", "slicing") and isinstance(target.get(key), dict):
                target[key] = {**target[key], **copy.deepcopy(value)}
            else:
                target[key] = copy.deepcopy(value)
        if diff.get("sliceName"):
            target["sliceName"] = diff["sliceName"]
