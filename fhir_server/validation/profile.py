"""Validation of a resource against a profile's snapshot (or a core type's definition).

The walker follows the instance and the compiled element tree together. For each JSON object it
maps keys to element nodes, then checks cardinality (profile minimums and maximums, slice counts),
choice types the profile allows, fixed and pattern values, bindings, `maxLength`, min/max values,
reference targets, extensions (known URL, allowed context, value), and FHIRPath invariants of the
element and of its type. Elements a profile does not expand are checked against their type's own
definition (or the type's profile), so datatype invariants such as `per-1` or `ext-1` apply
everywhere. It assumes the structural validator has run: it reports nothing that one already says
(unknown elements, JSON shape, primitive formats), and its issues are deduplicated against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from ..errors import Issue
from .bindings import ValueSetExpander
from .invariants import NATIVE, InvariantEngine, Scope
from .model import NO_VALUE, ElementNode, ProfileCompiler, ProfileError, TypeRef
from .packages import PackageRegistry
from .patterns import equals_fixed, matches_pattern
from .primitives import SD_BASE
from .questionnaire import QuestionnaireChecker
from .schema import Constraint
from .slicing import Slicer
from .terminology import check_binding, check_coding

_RESOURCE_TYPES = frozenset({"Resource", "DomainResource"})
_BACKBONE = frozenset({"BackboneElement", "Element"})
# What lets an invariant see beyond its focus: the resource variables and the references it resolves.
_SCOPE_MARKS = ("%resource", "%rootResource", "resolve(")
# Clean values remembered per validator before the memo starts afresh (a bound on its memory).
_MEMO_LIMIT = 200_000


def _cap(code: str) -> str:
    return code[:1].upper() + code[1:]


def _is_primitive(code: str) -> bool:
    return code[:1].islower()


@dataclass(frozen=True, slots=True)
class Place:
    """Where an object sits, for extension contexts and FHIRPath typing: its definition path in the
    resource (`Patient.name`), its path inside its own datatype (`HumanName`), and its type."""

    def_path: str
    type_path: str
    type: str

    def child(self, name: str, code: str) -> Place:
        """Backbone elements and primitives are named by their path in the enclosing type
        (`HumanName.family`); a complex datatype starts its own (`HumanName`)."""
        if code in _BACKBONE or _is_primitive(code):
            return Place(f"{self.def_path}.{name}", f"{self.type_path}.{name}", code)
        return Place(f"{self.def_path}.{name}", code, code)


@dataclass(slots=True)
class Occurrence:
    """One value of one element: the JSON value, its `_name` sibling, its type and its path."""

    value: Any
    ext: Any
    type: str
    path: str


@dataclass
class _Run:
    """The state of one validation: issues, what has been evaluated, the FHIRPath scope; and, for the
    memo of clean values (`ProfileValidator._value`), how many checks read beyond the value they check
    (the scope) or were skipped as already done."""

    issues: list[Issue]
    scope: Scope
    done: set[tuple[str, str]] = field(default_factory=set)
    depth: int = 0
    scoped: int = 0
    skipped: int = 0

    def add(self, severity: str, code: str, diagnostics: str, where: str) -> None:
        self.issues.append(Issue(severity, code, diagnostics, (where,)))


class ProfileValidator(Slicer):
    """Validates resources against StructureDefinitions of a registry; thread-safe, caches compiled
    profiles and expansions."""

    def __init__(self, registry: PackageRegistry, compiler: ProfileCompiler | None = None,
                 value_sets: ValueSetExpander | None = None) -> None:
        self.registry = registry
        self.compiler = compiler or ProfileCompiler(registry)
        self.value_sets = value_sets or ValueSetExpander(registry)
        self.invariants = InvariantEngine(self.value_sets)
        self.questionnaires = QuestionnaireChecker(registry, self.value_sets)
        self._target_types: dict[str, str | None] = {}
        self._rtypes: frozenset[str] | None = None
        # Complex values found clean: (element, type, place, JSON) → the element, kept alive so its id
        # is never reused while the key stands.
        self._clean: dict[tuple[int, str, Place, bytes], ElementNode] = {}

    # -- entry points ---------------------------------------------------------------------------

    def validate(self, resource: dict[str, Any], profile_url: str, *, at: str | None = None,
                 bundle: dict[str, Any] | None = None) -> list[Issue]:
        """Issues of `resource` against the profile (or core type) at `profile_url`."""
        root = self.compiler.root(profile_url)
        if bundle is None and resource.get("resourceType") == "Bundle":
            bundle = resource
        run = _Run([], Scope(resource, resource, bundle))
        path = at or str(resource.get("resourceType"))
        try:
            self._resource(run, resource, root, path)
        except RecursionError:
            run.add("error", "too-costly", f"{path} is nested too deeply to be validated", path)
        return run.issues

    def conforms(self, resource: dict[str, Any], profile_url: str, at: str, scope: Scope) -> list[Issue]:
        """Errors of a resource found inside another one (contained, Bundle entry) against a profile."""
        run = _Run([], scope)
        self._resource(run, resource, self.compiler.root(profile_url), at)
        return [i for i in run.issues if i.severity in ("error", "fatal")]

    # -- resources ------------------------------------------------------------------------------

    def _resource(self, run: _Run, resource: dict[str, Any], root: ElementNode, path: str) -> None:
        resource_type = resource.get("resourceType")
        expected = root.path
        if expected not in _RESOURCE_TYPES and resource_type != expected:
            run.add("error", "invalid",
                    f"{path}: a {resource_type} cannot conform to {root.profile_url}, which profiles {expected}", path)
            return
        self._constraints(run, root.constraints, resource, str(resource_type), path)
        here = str(resource_type)
        self._object(run, resource, root, path, Place(here, here, here))
        if resource_type == "QuestionnaireResponse" and ("qr", path) not in run.done:
            run.done.add(("qr", path))
            run.issues.extend(self.questionnaires.check(resource, path))

    def _nested_resource(self, run: _Run, value: Any, occurrence: Occurrence, container_root: bool) -> None:
        """A contained resource, Bundle entry or Parameters resource: its own type and its claimed
        profiles, with `%resource` rebound to it."""
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            return
        resource_type = value["resourceType"]
        try:
            root = self.compiler.root(SD_BASE + resource_type)
        except ProfileError:
            return  # unknown type: the structural validator reports it
        run.scoped += 1  # its scope is built from the enclosing one
        scope = Scope(value, run.scope.root if container_root else value, run.scope.bundle)
        inner = _Run(run.issues, scope, run.done, run.depth + 1)
        if inner.depth > 16:
            run.add("error", "too-costly", f"{occurrence.path} nests resources too deeply", occurrence.path)
            return
        self._resource(inner, value, root, occurrence.path)
        for claimed in (value.get("meta") or {}).get("profile") or []:
            if isinstance(claimed, str) and self.compiler.knows(claimed):
                try:
                    self._resource(inner, value, self.compiler.root(claimed), occurrence.path)
                except ProfileError as exc:
                    run.add("warning", "not-supported", f"{occurrence.path}: profile {claimed} unusable: {exc}",
                            occurrence.path)

    # -- objects --------------------------------------------------------------------------------

    def _key_map(self, node: ElementNode) -> dict[str, tuple[ElementNode, str]]:
        keys = node.keys
        if keys is None:
            keys = {}
            stems: dict[str, ElementNode] = {}
            for name, child in node.children.items():
                if child.is_choice:
                    stem = name[:-3]
                    stems[stem] = child
                    for code in child.type_codes:
                        keys[stem + _cap(code)] = (child, code)
                        if _is_primitive(code):
                            keys["_" + stem + _cap(code)] = (child, code)
                else:
                    code = child.types[0].code if child.types else "BackboneElement"
                    keys[name] = (child, code)
                    if _is_primitive(code):
                        keys["_" + name] = (child, code)
            node.required = tuple(c for c in node.children.values() if c.min > 0)
            node.choice_stems = stems
            node.keys = keys
        return keys

    def _object(self, run: _Run, obj: dict[str, Any], node: ElementNode, path: str, place: Place) -> None:
        """Check the properties of one JSON object against the children of `node`."""
        keys = self._key_map(node)
        groups: dict[int, tuple[ElementNode, list[Occurrence]]] = {}
        for key, raw in obj.items():
            hit = keys.get(key)
            if hit is None:
                self._unmatched(run, key, node, path)
                continue
            child, code = hit
            bucket = groups.get(id(child))
            if bucket is None:
                bucket = groups[id(child)] = (child, [])
            if key[0] == "_":
                if key[1:] in obj:
                    continue  # merged with its value below
                self._collect(bucket[1], None, raw, code, f"{path}.{key[1:]}")
            else:
                name = child.name[:-3] + _cap(code) if child.is_choice else key
                self._collect(bucket[1], raw, obj.get("_" + key), code, f"{path}.{name}")
        for child in node.required:
            if id(child) not in groups:
                label = child.name
                run.add("error", "required",
                        f"{path}.{label}: minimum required = {child.min}, but only found 0 ({self._source(child)})",
                        f"{path}.{label}")
        for child, occurrences in groups.values():
            self._element(run, child, occurrences, path, place)

    @staticmethod
    def _collect(out: list[Occurrence], raw: Any, ext: Any, code: str, where: str) -> None:
        if isinstance(raw, list) or (raw is None and isinstance(ext, list)):
            values = raw if isinstance(raw, list) else []
            exts = ext if isinstance(ext, list) else []
            for i in range(max(len(values), len(exts))):
                value = values[i] if i < len(values) else None
                extra = exts[i] if i < len(exts) else None
                if value is None and extra is None:
                    continue
                out.append(Occurrence(value, extra, code, f"{where}[{i}]"))
        elif raw is not None or ext is not None:
            out.append(Occurrence(raw, ext if isinstance(ext, dict) else None, code, where))

    def _unmatched(self, run: _Run, key: str, node: ElementNode, path: str) -> None:
        """A key the profile does not list: a choice type the profile removed is an error here; any
        other unknown key is the structural validator's to report."""
        stems = node.choice_stems or {}
        bare = key.lstrip("_")
        for stem, child in stems.items():
            if bare.startswith(stem) and len(bare) > len(stem) and bare[len(stem)].isupper():
                allowed = ", ".join(stem + _cap(c) for c in child.type_codes)
                run.add("error", "structure",
                        f"{path}.{bare}: this type is not allowed here by {self._source(child)} (allowed: {allowed})",
                        f"{path}.{bare}")
                return

    @staticmethod
    def _source(node: ElementNode) -> str:
        return f"{node.id} in {node.profile_url}"

    # -- one element: cardinality, slicing, then each value -------------------------------------

    def _element(self, run: _Run, node: ElementNode, occurrences: list[Occurrence], path: str, owner: Place) -> None:
        count = len(occurrences)
        where = f"{path}.{node.name}"
        if node.max == 0:
            for occurrence in occurrences:
                run.add("error", "structure", f"{occurrence.path}: not allowed ({node.id} has max cardinality 0)",
                        occurrence.path)
            return
        if count < node.min:
            run.add("error", "required",
                    f"{where}: minimum required = {node.min}, but only found {count} ({self._source(node)})", where)
            if not count:
                return  # as when the element is absent: its slices' minimums would say it again
        if count > node.max:
            run.add("error", "structure",
                    f"{where}: maximum allowed = {node.max}, but found {count} ({self._source(node)})",
                    occurrences[node.max].path)
        targets: list[ElementNode] = [node] * count
        if node.slicing is not None and node.slices:
            targets = self._slice(run, node, occurrences, where)
        for occurrence, target in zip(occurrences, targets, strict=True):
            self._value(run, target, occurrence, owner)

    # -- one value --------------------------------------------------------------------------------

    def _value(self, run: _Run, node: ElementNode, occurrence: Occurrence, owner: Place) -> None:
        """Check one value; a complex value already found clean at the same element, type and place is
        not walked again. Its checks depend on nothing else: those that read beyond the value (invariants
        on `%resource`, local references, nested resources) or that were skipped as done in this run
        keep it out of the memo, as does any issue, so only values that produced nothing are remembered.
        The engine's writes repeat most of their values (codings, extensions, care team roles)."""
        value = occurrence.value
        if type(value) is not dict or occurrence.ext is not None or _is_primitive(occurrence.type):
            self._check_value(run, node, occurrence, owner)
            return
        try:
            key = (id(node), occurrence.type, owner, orjson.dumps(value))
        except TypeError:  # not JSON (a Decimal from a caller): checked every time
            self._check_value(run, node, occurrence, owner)
            return
        if key in self._clean:
            return
        before = (len(run.issues), run.scoped, run.skipped)
        self._check_value(run, node, occurrence, owner)
        if (len(run.issues), run.scoped, run.skipped) == before:
            if len(self._clean) >= _MEMO_LIMIT:
                self._clean.clear()
            self._clean[key] = node

    def _check_value(self, run: _Run, node: ElementNode, occurrence: Occurrence, owner: Place) -> None:
        value = occurrence.value
        code = occurrence.type
        where = occurrence.path
        vouched = False  # the profile states the value itself: an unverifiable binding is no news
        if node.fixed is not NO_VALUE and value is not None:
            vouched = equals_fixed(value, node.fixed)
            if not vouched:
                run.add("error", "value", f"{where}: must be exactly {_json(node.fixed)} ({self._source(node)})", where)
        if node.pattern is not NO_VALUE and value is not None:
            vouched = matches_pattern(value, node.pattern)
            if not vouched:
                run.add("error", "value",
                        f"{where}: must match the pattern {_json(node.pattern)} ({self._source(node)})", where)
        if node.binding is not None and value is not None:
            issue = check_binding(self.value_sets, node.binding, value, code, where)
            if issue is not None and not (vouched and issue.severity == "warning"):
                run.issues.append(issue)
                if code == "CodeableConcept" and isinstance(value, dict):
                    # The codings' own code-system check would only repeat this problem.
                    for index in range(len(value.get("coding") or [])):
                        run.done.add(("code", f"{where}.coding[{index}]"))
        if node.max_length is not None and isinstance(value, str) and len(value) > node.max_length:
            run.add("error", "too-long",
                    f"{where}: {len(value)} characters, but at most {node.max_length} are allowed "
                    f"({self._source(node)})",
                    where)
        if node.min_value is not None or node.max_value is not None:
            self._range(run, node, value, where)
        if _is_primitive(code):
            if node.constraints:
                self._constraints(run, node.constraints, value, code, where)
            if isinstance(occurrence.ext, dict):
                self._object(run, occurrence.ext, self._type_node("Element"), where, owner.child(node.name, code))
            return
        if code in _RESOURCE_TYPES or code in self._resource_types():
            self._nested_resource(run, value, occurrence, container_root=node.name == "contained")
            return
        if not isinstance(value, dict):
            return  # wrong JSON shape: reported by the structural validator
        type_ref = node.type_ref(code) or (node.types[0] if node.types else TypeRef(code))
        if code == "Reference":
            self._reference(run, value, type_ref, where)
        elif code == "Coding":
            if ("code", where) in run.done:
                run.skipped += 1
            else:
                issue = check_coding(self.value_sets, value, where)
                if issue is not None:
                    run.issues.append(issue)
        type_root: ElementNode | None = None
        if code == "Extension":
            type_root = self._extension(run, value, node, type_ref, where, owner)
        elif code not in _BACKBONE:
            type_root = self.compiler.type_root(code, type_ref.profiles)
        place = owner.child(node.name, code)
        if node.constraints:
            self._constraints(run, node.constraints, value, place.type_path, where)
        if type_root is not None and type_root is not node and type_root.constraints:
            self._constraints(run, type_root.constraints, value, place.type_path, where)
        source = node if node.children else type_root
        if source is not None:
            self._object(run, value, source, where, place)

    def _range(self, run: _Run, node: ElementNode, value: Any, where: str) -> None:
        def comparable(item: Any) -> Any:
            if isinstance(item, dict):
                item = item.get("value")
            if isinstance(item, bool):
                return None
            if isinstance(item, int | float):
                return Decimal(str(item))
            return item if isinstance(item, str) else None

        current = comparable(value)
        if current is None:
            return
        for bound, label, bad in ((node.min_value, "minimum", lambda a, b: a < b),
                                  (node.max_value, "maximum", lambda a, b: a > b)):
            limit = comparable(bound)
            if limit is None or type(limit) is not type(current):
                continue
            if bad(current, limit):
                run.add("error", "value", f"{where}: {value if not isinstance(value, dict) else current} is beyond the "
                        f"{label} {bound if not isinstance(bound, dict) else limit} ({self._source(node)})", where)

    def _type_node(self, code: str) -> ElementNode:
        return self.compiler.root(SD_BASE + code)

    def _resource_types(self) -> frozenset[str]:
        found = self._rtypes
        if found is None:
            code_system = self.registry.resolve("http://hl7.org/fhir/resource-types") or {}
            found = frozenset(c["code"] for c in code_system.get("concept") or [] if "code" in c)
            self._rtypes = found
        return found

    # -- invariants -----------------------------------------------------------------------------

    def _constraints(self, run: _Run, constraints: tuple[Constraint, ...], focus: Any, model_path: str,
                     where: str) -> None:
        for constraint in constraints:
            mark = (constraint.key, where)
            if mark in run.done:
                run.skipped += 1
                continue
            run.done.add(mark)
            if self._reads_scope(constraint, focus):
                run.scoped += 1
            result = self.invariants.holds(constraint.expression or "", focus, model_path, run.scope, constraint.key)
            if result is True:
                continue
            if result is False:
                run.add(constraint.severity, "invariant", f"{where}: {constraint.key}: {constraint.human}", where)
            else:
                run.add("warning", "not-supported", f"{where}: invariant {constraint.key} {result}", where)

    @staticmethod
    def _reads_scope(constraint: Constraint, focus: Any) -> bool:
        expression = constraint.expression or ""
        if constraint.key == "ref-1" and NATIVE["ref-1"][0] == expression:  # only a local reference looks
            return isinstance(focus, dict) and str(focus.get("reference", "")).startswith("#")
        return any(mark in expression for mark in _SCOPE_MARKS)

    # -- references -----------------------------------------------------------------------------

    def _target_type(self, url: str) -> str | None:
        if url not in self._target_types:
            if url.startswith(SD_BASE) and "/" not in url[len(SD_BASE):]:
                found: str | None = url[len(SD_BASE):]
                definition = self.registry.resolve(url)
                if definition is not None:
                    found = definition.get("type", found)
            else:
                definition = self.registry.resolve(url)
                found = definition.get("type") if definition else None
            self._target_types[url] = found
        return self._target_types[url]

    def _reference(self, run: _Run, value: dict[str, Any], type_ref: TypeRef, where: str) -> None:
        targets = type_ref.targets
        if not targets:
            return
        allowed = {self._target_type(t) for t in targets}
        if None in allowed or "Resource" in allowed:
            return
        reference = value.get("reference")
        target: dict[str, Any] | None = None
        target_path = ""
        target_type: str | None = None
        if isinstance(reference, str):
            target, target_path = self._local(run, reference)
            if target is not None:
                target_type = target.get("resourceType")
            elif reference.startswith("#"):
                return  # invariant ref-1 reports a local reference without its contained resource
            elif not reference.startswith(("urn:uuid:", "urn:oid:")):
                parts = reference.split("/_history/")[0].rstrip("/").split("/")
                if len(parts) >= 2:
                    target_type = parts[-2]
        if target_type is None and isinstance(value.get("type"), str):
            target_type = value["type"]
        if target_type is None:
            return
        if target_type not in allowed:
            run.add("error", "structure",
                    f"{where}: a reference to a {target_type} is not allowed here (expected "
                    f"{' or '.join(sorted(str(a) for a in allowed))})", f"{where}.reference")
            return
        if target is None:
            return
        candidates = [t for t in targets if self._target_type(t) == target_type and not t.startswith(SD_BASE)]
        claimed = (target.get("meta") or {}).get("profile") or []
        if not candidates or (reference.startswith("#") and any(c in claimed for c in candidates)):  # type: ignore[union-attr]
            return  # a contained resource is validated against the profiles it claims in any case
        failures: list[Issue] = []
        for candidate in candidates:
            if not self.compiler.knows(candidate):
                return
            scope = Scope(target, run.scope.root if reference.startswith("#") else target,  # type: ignore[union-attr]
                          run.scope.bundle)
            errors = self.conforms(target, candidate, target_path, scope)
            if not errors:
                return
            failures = failures or errors
        run.add("error", "structure",
                f"{where}: the referenced {target_type} does not conform to {' or '.join(candidates)}",
                f"{where}.reference")
        run.issues.extend(failures)

    def _local(self, run: _Run, reference: str) -> tuple[dict[str, Any] | None, str]:
        root = run.scope.root
        if reference.startswith("#") or run.scope.bundle is not None:
            run.scoped += 1
        if reference.startswith("#"):
            for i, contained in enumerate(root.get("contained") or []):
                if isinstance(contained, dict) and contained.get("id") == reference[1:]:
                    return contained, f"{root.get('resourceType')}.contained[{i}]"
            return None, ""
        bundle = run.scope.bundle
        if bundle is not None:
            for i, entry in enumerate(bundle.get("entry") or []):
                if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
                    continue
                resource = entry["resource"]
                full_url = entry.get("fullUrl") or ""
                if reference == full_url or (full_url and full_url.endswith("/" + reference)) or (
                    f"{resource.get('resourceType')}/{resource.get('id')}" == reference
                ):
                    return resource, f"Bundle.entry[{i}].resource"
        return None, ""

    # -- extensions -----------------------------------------------------------------------------

    def _extension(self, run: _Run, value: dict[str, Any], node: ElementNode, type_ref: TypeRef, where: str,
                   owner: Place) -> ElementNode | None:
        """The definition an extension value is checked against; checks the URL and the context."""
        url = value.get("url")
        profiles = type_ref.profiles
        if profiles and self.compiler.knows(profiles[0]):
            definition_url = profiles[0]
        elif isinstance(url, str) and ":" in url:
            if not self.compiler.knows(url):
                modifier = node.name == "modifierExtension"
                run.add("error" if modifier else "warning", "extension",
                        f"{where}: unknown {'modifier ' if modifier else ''}extension {url}: it cannot be checked",
                        where)
                return self._type_node("Extension")
            definition_url = url
        else:
            return self._type_node("Extension")  # a sub-extension of a complex one: its parent checks it
        if isinstance(url, str) and ":" in url:
            self._context(run, url, owner, where)
        try:
            return self.compiler.root(definition_url)
        except ProfileError as exc:
            run.add("warning", "not-supported", f"{where}: extension definition {definition_url} unusable: {exc}",
                    where)
            return self._type_node("Extension")

    def _context(self, run: _Run, url: str, owner: Place, where: str) -> None:
        """The extension's declared contexts must include the element it sits on: by path in the
        resource, by path in the datatype, or by the datatype's name."""
        definition = self.registry.resolve(url) or {}
        contexts = definition.get("context") or []
        if not contexts:
            return
        candidates = {owner.def_path, owner.type_path, owner.type}
        is_resource = owner.def_path == owner.type and owner.type in self._resource_types()
        for context in contexts:
            kind, expression = context.get("type"), context.get("expression", "")
            if kind != "element":
                return  # fhirpath and extension contexts are not checked
            if expression in candidates or expression == "Element":
                return
            if expression in _RESOURCE_TYPES and is_resource:
                return
            if expression == "BackboneElement" and owner.type == "BackboneElement":
                return
        allowed = ", ".join(c.get("expression", "?") for c in contexts)
        # R4 core's own snapshots use some core extensions outside their declared context (fhir-type on
        # ElementDefinition.type): for core extensions this is a warning, for all others an error.
        severity = "warning" if url.startswith(SD_BASE) else "error"
        run.add(severity, "extension",
                f"{where}: extension {url} is not allowed on {owner.def_path} (allowed: {allowed})", where)


def _json(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 200 else text[:197] + "..."
