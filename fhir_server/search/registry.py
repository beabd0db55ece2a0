"""Search parameters by resource type, built from SearchParameter resources of the loaded packages.

Nothing is written by hand per resource type: R4 core's 1,390 definitions (plus those of our own
profiles package, loaded later, which win on the same type and code) are read once at start-up. Each
parameter's expression is compiled lazily, per resource type, on first use (`values_for`): branches
the direct evaluator understands run as dict walks, the others through the FHIRPath engine.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fhir_server.validation.packages import PackageRegistry

from . import fastpath, fhirpath, model
from .bindings import ImpliedSystems
from .fastpath import Typed
from .parts import part_bit

log = logging.getLogger(__name__)

RESOURCE_LEVEL_BASES = frozenset({"Resource", "DomainResource"})
# Answered from columns of the `resource` table, never indexed.
COLUMN_PARAMS = frozenset({"_id", "_lastUpdated"})
INDEXED_TYPES = frozenset({"number", "date", "string", "token", "reference", "quantity", "uri", "composite"})


@dataclass(frozen=True)
class Component:
    """One part of a composite parameter: a type and an expression relative to the composite's node."""

    type: str
    expression: str
    code: str


@dataclass(frozen=True)
class SearchParam:
    code: str
    type: str
    expression: str | None
    bases: tuple[str, ...]
    targets: tuple[str, ...] = ()
    url: str = ""
    components: tuple[Component, ...] = ()

    @property
    def resource_level(self) -> bool:
        return not RESOURCE_LEVEL_BASES.isdisjoint(self.bases)

    def hash_type(self, res_type: str) -> str:
        """The type hashed into index rows: "Resource" for base parameters, so system-level searches
        (`GET /fhir?_tag=…`) read the same rows as type-level ones."""
        return "Resource" if self.resource_level else res_type

    @property
    def indexed(self) -> bool:
        if self.code in COLUMN_PARAMS or self.type not in INDEXED_TYPES or not self.expression:
            return False
        if self.type == "composite":
            return len(self.components) == 2 and self.components[0].type == "token"
        return True

    @property
    def supported(self) -> bool:
        return self.code in COLUMN_PARAMS or self.indexed


ValueSource = Callable[[dict[str, Any], "list[fastpath.Node] | None"], list[Typed]]


@dataclass
class _Compiled:
    fast: list[fastpath.CompiledPath] = field(default_factory=list)
    slow: list[Callable[..., list[Typed]]] = field(default_factory=list)


@dataclass(frozen=True)
class PlanItem:
    param: SearchParam
    hash_type: str
    key: str  # the parameter whose rows these are (see `index_key`)
    keys: frozenset[str] | None  # None: always evaluate
    fast: tuple[fastpath.CompiledPath, ...]
    slow: tuple[Callable[..., list[Typed]], ...]
    code_system: str = ""  # implied by a required binding, for `code` values of token parameters
    # The direct branches as one function of the resource, when all of them are resolved at compile
    # time (`fastpath.static_typed`); None: evaluate `fast` one by one.
    typed: Callable[[dict[str, Any]], list[Typed]] | None = None


_SHAPES_KEPT = 256  # distinct key sets remembered per resource type
# `X.telecom.where(system='phone')`: the ContactPoints of `X.telecom` of one system.
_SYSTEM_FILTER = re.compile(r"(.+)\.where\(system\s*=\s*'([a-z]+)'\)")


@dataclass(frozen=True)
class TypePlan:
    """Everything indexing one resource type evaluates, and which of it a resource's top-level keys
    can feed: a Patient with 8 keys looks at the parameters those keys reach, not at all 28."""

    items: tuple[PlanItem, ...]
    by_key: dict[str, tuple[int, ...]]  # top-level JSON key → positions in `items`
    always: tuple[int, ...]  # positions evaluated on every resource (composites, engine fallbacks…)
    # Answers of `relevant` by the resource's top-level keys: writers send the same shapes again and again.
    _by_keys: dict[tuple[str, ...], list[PlanItem]] = field(default_factory=dict, compare=False, repr=False)

    def relevant(self, resource: dict[str, Any]) -> list[PlanItem]:
        """The items that may yield values for `resource`, in plan order."""
        keys = tuple(resource)
        found = self._by_keys.get(keys)
        if found is None:
            positions = set(self.always)
            for key in keys:
                positions.update(self.by_key.get(key, ()))
            found = [self.items[position] for position in sorted(positions)]
            if len(self._by_keys) < _SHAPES_KEPT:
                self._by_keys[keys] = found
        return found


def _fused(paths: tuple[fastpath.CompiledPath, ...]) -> Callable[[dict[str, Any]], list[Typed]] | None:
    functions = [path.typed for path in paths]
    if not functions or any(function is None for function in functions):
        return None
    if len(functions) == 1:
        return functions[0]
    ready = [function for function in functions if function is not None]

    def typed(resource: dict[str, Any]) -> list[Typed]:
        out: list[Typed] = []
        for function in ready:
            out.extend(function(resource))
        return out

    return typed


class SearchParameters:
    """Every search parameter of every resource type; compiled expressions are cached."""

    def __init__(self, packages: PackageRegistry) -> None:
        self.packages = packages
        self.implied = ImpliedSystems(packages)
        self._by_base: dict[str, dict[str, SearchParam]] = {}
        self._by_type: dict[str, dict[str, SearchParam]] = {}
        self._compiled: dict[tuple[str, str, str], _Compiled] = {}
        self._types: list[str] | None = None
        self._plans: dict[str, TypePlan] = {}
        self._aliases: dict[str, dict[str, str]] = {}
        self._parts: dict[str, dict[str, int]] = {}
        self._systems: dict[str, dict[str, str]] = {}
        self._targeting: dict[str, list[str]] | None = None
        by_url: dict[str, dict[str, Any]] = {}
        definitions = [d for d in packages.resources("SearchParameter") if d.get("base") and d.get("code")]
        for definition in definitions:
            if definition.get("url"):
                by_url[definition["url"]] = definition
        for definition in definitions:
            param = self._param(definition, by_url)
            for base in param.bases:
                self._by_base.setdefault(base, {})[param.code] = param

    @staticmethod
    def _param(definition: dict[str, Any], by_url: dict[str, dict[str, Any]]) -> SearchParam:
        components = []
        for component in definition.get("component") or []:
            target = by_url.get(component.get("definition", ""))
            components.append(
                Component(
                    type=target["type"] if target else "unknown",
                    expression=component.get("expression", ""),
                    code=target["code"] if target else "",
                )
            )
        return SearchParam(
            code=definition["code"],
            type=definition["type"],
            expression=definition.get("expression"),
            bases=tuple(definition["base"]),
            targets=tuple(definition.get("target") or ()),
            url=definition.get("url", ""),
            components=tuple(components),
        )

    def for_type(self, res_type: str) -> dict[str, SearchParam]:
        """code → parameter for `res_type`, including the Resource/DomainResource ones."""
        found = self._by_type.get(res_type)
        if found is None:
            found = {}
            for base in ("Resource", "DomainResource", res_type):
                if base == "DomainResource" and not model.is_a(res_type, "DomainResource"):
                    continue
                found.update(self._by_base.get(base, {}))
            self._by_type[res_type] = found
        return found

    def get(self, res_type: str, code: str) -> SearchParam | None:
        return self.for_type(res_type).get(code)

    def resource_types(self) -> list[str]:
        if self._types is None:
            self._types = sorted(t for t in self._by_base if t not in RESOURCE_LEVEL_BASES)
        return self._types

    def supported(self, res_type: str) -> dict[str, SearchParam]:
        """The parameters searches on `res_type` accept (what the CapabilityStatement lists)."""
        return {code: p for code, p in self.for_type(res_type).items() if p.supported}

    def includes(self, res_type: str) -> list[str]:
        """`_include` values for `res_type`: each reference parameter, and the wildcard."""
        codes = [code for code, p in self.for_type(res_type).items() if p.type == "reference" and p.indexed]
        return [f"{res_type}:{code}" for code in sorted(codes)] + (["*"] if codes else [])

    def revincludes(self, res_type: str) -> list[str]:
        """`_revinclude` values for `res_type`: reference parameters of any type that may target it."""
        if self._targeting is None:
            targeting: dict[str, list[str]] = {}
            for source in self.resource_types():
                for code, param in self._by_base.get(source, {}).items():
                    if param.type == "reference" and param.indexed:
                        for target in param.targets or ("*",):
                            targeting.setdefault(target, []).append(f"{source}:{code}")
            self._targeting = targeting
        found = sorted({*self._targeting.get(res_type, []), *self._targeting.get("*", [])})
        return found + (["*"] if found else [])

    def values(
        self,
        param: SearchParam,
        res_type: str,
        resource: dict[str, Any],
        *,
        expression: str | None = None,
        start: fastpath.Node | None = None,
    ) -> list[Typed]:
        """Evaluate the parameter's expression (or a composite component's `expression`, relative to
        `start`) on `resource`."""
        text = expression if expression is not None else param.expression or ""
        start_path = start[1] if start is not None else res_type
        compiled = self._compile(text, res_type, start_path, relative=start is not None)
        nodes: list[fastpath.Node] = [start] if start is not None else [(resource, res_type)]
        out: list[Typed] = []
        for path in compiled.fast:
            out.extend(path.evaluate(nodes))
        for slow in compiled.slow:
            out.extend(self.guarded(slow, resource, param, start))
        return out

    @staticmethod
    def guarded(slow: Callable[..., list[Typed]], resource: dict[str, Any], param: SearchParam,
                start: fastpath.Node | None = None) -> list[Typed]:
        """Run an engine-evaluated expression; a failure indexes nothing for it but never blocks a write."""
        try:
            return slow(resource, start)
        except Exception as exc:  # noqa: BLE001 - fhirpathpy raises plain Exceptions
            log.warning("FHIRPath evaluation of %s (%s) failed: %s", param.code, param.expression, exc)
            return []

    def index_key(self, res_type: str, code: str) -> str:
        """The code whose index rows answer `code`: parameters of one type with the same kind and
        expression (Patient `name` and `phonetic`) share one set of rows instead of two equal ones; a
        string parameter on one part of another's HumanName or Address (`family` of `name`) reads that
        parameter's rows, filtered by `part_mask`; a token parameter on the ContactPoints of one system
        (`phone`: `telecom.where(system='phone')`) reads the rows of all of them, filtered by
        `fixed_system`."""
        aliases = self._aliases.get(res_type)
        if aliases is None:
            aliases = self._aliases[res_type] = self._shared_rows(res_type)
        return aliases.get(code, code)

    def part_mask(self, res_type: str, code: str) -> int:
        """The `parts` bits of the rows `code` reads from its `index_key`'s (0: all of them)."""
        self.index_key(res_type, code)
        return self._parts[res_type].get(code, 0)

    def fixed_system(self, res_type: str, code: str) -> str:
        """The ContactPoint system of the rows `code` reads from its `index_key`'s ("": all of them)."""
        self.index_key(res_type, code)
        return self._systems[res_type].get(code, "")

    def _shared_rows(self, res_type: str) -> dict[str, str]:
        params = self.for_type(res_type)
        first: dict[tuple[str, str, bool], str] = {}
        aliases: dict[str, str] = {}
        branches_of: dict[str, str] = {}
        for other, param in sorted(params.items()):
            if param.indexed and param.type != "composite":
                # Compared as compiled for this type: `Patient.name | Person.name` is `Patient.name` here.
                compiled = self._compile(param.expression or "", res_type, res_type, relative=False)
                branches = "|".join(sorted(path.text for path in compiled.fast))
                if compiled.slow:
                    branches = param.expression or ""
                aliases[other] = first.setdefault((param.type, branches, param.resource_level), other)
                if not compiled.slow and len(compiled.fast) == 1:
                    branches_of[other] = branches
        whole = {(params[code].type, params[code].resource_level, text): code for code, text in branches_of.items()
                 if aliases[code] == code}
        parts: dict[str, int] = {}
        systems: dict[str, str] = {}
        for code, text in branches_of.items():
            param = params[code]
            if aliases[code] != code:
                continue
            if param.type == "string":
                parent_text, _, part = text.rpartition(".")
                parent = whole.get(("string", param.resource_level, parent_text))
                bit = part_bit(model.PATH_TO_TYPE.get(parent_text, ""), part)
                if parent is not None and bit:
                    aliases[code], parts[code] = parent, bit
            elif param.type == "token" and (found := _SYSTEM_FILTER.fullmatch(text)):
                parent = whole.get(("token", param.resource_level, found.group(1)))
                if parent is not None and model.PATH_TO_TYPE.get(found.group(1)) == "ContactPoint":
                    aliases[code], systems[code] = parent, found.group(2)
        self._parts[res_type], self._systems[res_type] = parts, systems
        return aliases

    def coded(self, res_type: str, code: str) -> bool:
        """Whether a token parameter reads only `code`/`boolean` elements (status, gender, active):
        few distinct values, so a poor choice to drive a query when a parameter is also given."""
        param = self.get(res_type, code)
        if param is None or param.type != "token" or not param.expression:
            return False
        compiled = self._compile(param.expression, res_type, res_type, relative=False)
        if compiled.slow or not compiled.fast:
            return False
        return all(model.PATH_TO_TYPE.get(path.text.strip()) in ("code", "boolean") for path in compiled.fast)

    def plan(self, res_type: str) -> TypePlan:
        """What indexing a resource of `res_type` evaluates, compiled once: per indexed parameter its
        hash namespace, its direct paths and engine fallbacks, and the top-level keys it can read."""
        plan = self._plans.get(res_type)
        if plan is None:
            found: list[PlanItem] = []
            for param in self.for_type(res_type).values():
                if not param.indexed or self.index_key(res_type, param.code) != param.code:
                    continue
                compiled = self._compile(param.expression or "", res_type, res_type, relative=False)
                keys: frozenset[str] | None = frozenset()
                for path in compiled.fast:
                    keys = None if keys is None or path.first_keys is None else keys | path.first_keys
                if compiled.slow or param.type == "composite":
                    keys = None
                implied = ""
                if param.type == "token" and not compiled.slow:
                    implied = self.implied.system(res_type, tuple(path.text for path in compiled.fast))
                fast = tuple(compiled.fast)
                found.append(PlanItem(param, param.hash_type(res_type), param.code, keys, fast,
                                      tuple(compiled.slow), implied, _fused(fast)))
            by_key: dict[str, list[int]] = {}
            for position, item in enumerate(found):
                for key in item.keys or ():
                    by_key.setdefault(key, []).append(position)
            always = tuple(position for position, item in enumerate(found) if item.keys is None)
            plan = TypePlan(tuple(found), {key: tuple(p) for key, p in by_key.items()}, always)
            self._plans[res_type] = plan
        return plan

    def base_nodes(self, param: SearchParam, res_type: str, resource: dict[str, Any]) -> list[fastpath.Node]:
        """The nodes a composite parameter's components are evaluated on (e.g. each Observation.component)."""
        compiled = self._compile(param.expression or "", res_type, res_type, relative=False)
        nodes: list[fastpath.Node] = []
        for path in compiled.fast:
            nodes.extend(path.run([(resource, res_type)]))
        return nodes

    def _compile(self, text: str, res_type: str, start_path: str, relative: bool) -> _Compiled:
        key = (text, res_type, start_path)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = _Compiled()
            for branch in fastpath.split_top_level(text):
                if not relative:
                    root = fastpath.branch_root(branch)
                    if root is not None and root[:1].isupper() and not model.is_a(res_type, root):
                        continue  # a branch for another resource type (`Patient.name | Practitioner.name`)
                fast = fastpath.compile_branch(branch, start_path, relative=relative)
                if fast is not None:
                    compiled.fast.append(fast)
                else:
                    compiled.slow.append(fhirpath.compile_expression(branch, res_type))
            self._compiled[key] = compiled
        return compiled
