"""Local expansion of ValueSets, for checking bindings without a terminology server.

Only what the loaded packages fully define is expanded: whole code systems whose content is
`complete`, explicit concept lists, hierarchy filters (`is-a`, `descendent-of`, `is-not-a`,
`concept =`), imported ValueSets and excludes. An expansion is kept per code system, so a ValueSet
that mixes a system we hold with one we do not (ATC, SNOMED CT, BCP-47…) still decides codes of the
first and says "cannot check" for the second: the caller turns that into a warning, never into a
silent pass nor into a false error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .packages import PackageRegistry


class _Unexpandable(Exception):
    """Raised inside an expansion when a whole ValueSet cannot be computed locally."""


def _concepts(concepts: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every concept of a CodeSystem hierarchy, parents before children."""
    for concept in concepts:
        yield concept
        yield from _concepts(concept.get("concept") or [])


def _find(concepts: list[dict[str, Any]], code: str) -> dict[str, Any] | None:
    for concept in _concepts(concepts):
        if concept.get("code") == code:
            return concept
    return None


@dataclass(frozen=True)
class Expansion:
    """The codes of one ValueSet, per code system.

    `codes` holds the systems expanded completely; `unknown` maps each system that is part of the
    ValueSet but cannot be enumerated here to the reason, for the warning shown to the user.
    """

    url: str
    codes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    unknown: Mapping[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.unknown

    def contains(self, system: str | None, code: str) -> bool | None:
        """True or False when decidable; None when the code's system cannot be checked here.

        A `code` element has no system: it is in the ValueSet when any system holds it."""
        if system is None:
            if any(code in codes for codes in self.codes.values()):
                return True
            return None if self.unknown else False
        codes = self.codes.get(system)
        if codes is not None and code in codes:
            return True
        if system in self.unknown:
            return None
        return False

    def all_codes(self) -> frozenset[str] | None:
        """Every code over all systems, or None when some system is unknown."""
        if self.unknown:
            return None
        out: set[str] = set()
        for codes in self.codes.values():
            out |= codes
        return frozenset(out)


# Per-system partial results while expanding: codes, or the reason the system cannot be enumerated.
_Part = dict[str, "set[str] | str"]


class ValueSetExpander:
    """Expands ValueSets of a registry once each and answers code-system lookups; thread-safe."""

    def __init__(self, registry: PackageRegistry) -> None:
        self._registry = registry
        self._cache: dict[str, Expansion | None] = {}
        self._system_codes: dict[str, frozenset[str] | None] = {}
        self._lock = threading.RLock()

    def codes(self, value_set_url: str) -> frozenset[str] | None:
        """The codes of the ValueSet at `value_set_url` (`url` or `url|version`), or None when any
        part of it cannot be expanded here."""
        expansion = self.expansion(value_set_url)
        return expansion.all_codes() if expansion is not None else None

    def expansion(self, value_set_url: str) -> Expansion | None:
        """The per-system expansion, or None when the ValueSet itself is not loaded or unusable."""
        if value_set_url in self._cache:
            return self._cache[value_set_url]
        with self._lock:
            if value_set_url not in self._cache:
                try:
                    parts = self._expand(value_set_url, ())
                    codes = {s: frozenset(v) for s, v in parts.items() if not isinstance(v, str)}
                    unknown = {s: v for s, v in parts.items() if isinstance(v, str)}
                    result: Expansion | None = Expansion(
                        value_set_url, MappingProxyType(codes), MappingProxyType(unknown)
                    )
                except _Unexpandable:
                    result = None
                self._cache[value_set_url] = result
            return self._cache[value_set_url]

    def code_system_codes(self, system: str) -> frozenset[str] | None:
        """All codes of a complete CodeSystem we hold, or None (unknown, fragment, not-present…)."""
        if system in self._system_codes:
            return self._system_codes[system]
        code_system = self._registry.resolve(system)
        result: frozenset[str] | None = None
        complete = code_system is not None and code_system.get("resourceType") == "CodeSystem" and (
            code_system.get("content") == "complete"
        )
        if complete:
            assert code_system is not None
            result = frozenset(c["code"] for c in _concepts(code_system.get("concept") or []) if "code" in c)
        self._system_codes[system] = result
        return result

    def display(self, system: str, code: str) -> str | None:
        code_system = self._registry.resolve(system)
        if code_system is None or code_system.get("resourceType") != "CodeSystem":
            return None
        concept = _find(code_system.get("concept") or [], code)
        return concept.get("display") if concept else None

    # -- expansion ------------------------------------------------------------------------------

    def _expand(self, url: str, seen: tuple[str, ...]) -> _Part:
        if url in seen:
            raise _Unexpandable(f"ValueSet {url} includes itself")
        value_set = self._registry.resolve(url)
        if value_set is None or value_set.get("resourceType") != "ValueSet":
            raise _Unexpandable(f"ValueSet {url} is not loaded")
        compose = value_set.get("compose")
        if not compose:
            contains = (value_set.get("expansion") or {}).get("contains")
            if contains is None:
                raise _Unexpandable(f"ValueSet {url} has neither compose nor expansion")
            parts: _Part = {}
            self._expansion_codes(contains, parts)
            return parts
        seen = (*seen, url)
        result: _Part = {}
        for include in compose.get("include") or []:
            for system, value in self._part(include, seen).items():
                _union(result, system, value)
        for exclude in compose.get("exclude") or []:
            for system, value in self._part(exclude, seen).items():
                current = result.get(system)
                if current is None or isinstance(current, str):
                    continue
                if isinstance(value, str):
                    result[system] = f"an exclude on {system} cannot be computed here ({value})"
                else:
                    current -= value
        return result

    def _expansion_codes(self, contains: list[dict[str, Any]], parts: _Part) -> None:
        for item in contains:
            if "code" in item:
                _union(parts, item.get("system", ""), {item["code"]})
            self._expansion_codes(item.get("contains") or [], parts)

    def _part(self, part: dict[str, Any], seen: tuple[str, ...]) -> _Part:
        """The codes of one compose.include or compose.exclude, per system."""
        system = part.get("system")
        imported = part.get("valueSet") or []
        if system is None and not imported:
            raise _Unexpandable("compose part with neither system nor valueSet")
        result: _Part | None = None
        if system is not None:
            result = {system: self._system_part(system, part)}
        for url in imported:
            codes = self._expand(url, seen)
            result = codes if result is None else _intersect(result, codes)
        return result or {}

    def _system_part(self, system: str, part: dict[str, Any]) -> set[str] | str:
        explicit = part.get("concept")
        filters = part.get("filter")
        if explicit is not None and not filters:
            return {concept["code"] for concept in explicit if "code" in concept}
        code_system = self._registry.resolve(f"{system}|{part['version']}" if "version" in part else system)
        if code_system is None or code_system.get("resourceType") != "CodeSystem":
            return f"code system {system} is not available on this server"
        if code_system.get("content") != "complete":
            return f"code system {system} is only partly defined here (content: {code_system.get('content')})"
        concepts = code_system.get("concept") or []
        codes = {concept["code"] for concept in _concepts(concepts) if "code" in concept}
        if explicit is not None:
            codes &= {concept["code"] for concept in explicit if "code" in concept}
        for filter_ in filters or []:
            filtered = self._filter(concepts, codes, filter_)
            if isinstance(filtered, str):
                return filtered
            codes &= filtered
        return codes

    @staticmethod
    def _filter(concepts: list[dict[str, Any]], all_codes: set[str], filter_: dict[str, Any]) -> set[str] | str:
        prop, op, value = filter_.get("property"), filter_.get("op"), filter_.get("value")
        if prop != "concept" or not isinstance(value, str):
            return f"a filter on the property {prop!r} cannot be computed here"
        if op == "=":
            return {value} & all_codes
        root = _find(concepts, value)
        below = {c["code"] for c in _concepts(root.get("concept") or []) if "code" in c} if root else set()
        if op == "is-a":
            return below | ({value} if root else set())
        if op == "descendent-of":
            return below
        if op == "is-not-a":
            return all_codes - below - {value}
        return f"the filter operator {op!r} cannot be computed here"


def _union(parts: _Part, system: str, value: set[str] | str) -> None:
    current = parts.get(system)
    if isinstance(current, str):
        return
    if isinstance(value, str) or current is None:
        parts[system] = value if isinstance(value, str) else set(value)
    else:
        current |= value


def _intersect(left: _Part, right: _Part) -> _Part:
    out: _Part = {}
    for system in left.keys() & right.keys():
        a, b = left[system], right[system]
        if isinstance(a, str) or isinstance(b, str):
            out[system] = a if isinstance(a, str) else b
        else:
            out[system] = a & b
    return out
