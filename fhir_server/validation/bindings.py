"""Local expansion of ValueSets into code sets, for checking required bindings.

Only what the loaded packages fully define is expanded: whole code systems whose content is
`complete`, explicit concept lists, hierarchy filters (`is-a`, `descendent-of`, `is-not-a`,
`concept =`), imported ValueSets and excludes. Anything else (a code system we do not hold, such as
BCP-13 MIME types, or a filter on another property) makes the whole ValueSet unknown: the caller must
then skip the check rather than reject valid codes. A `code` element carries no system, so an
expansion is the set of codes over all included systems.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from .packages import PackageRegistry


class _Unexpandable(Exception):
    """Raised inside an expansion when a part of the ValueSet cannot be computed locally."""


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


class ValueSetExpander:
    """Expands ValueSets of a registry once each; `codes(url)` is None when it cannot be done."""

    def __init__(self, registry: PackageRegistry) -> None:
        self._registry = registry
        self._cache: dict[str, frozenset[str] | None] = {}
        self._lock = threading.Lock()

    def codes(self, value_set_url: str) -> frozenset[str] | None:
        """The codes of the ValueSet at `value_set_url` (`url` or `url|version`), or None."""
        if value_set_url in self._cache:
            return self._cache[value_set_url]
        with self._lock:
            if value_set_url not in self._cache:
                try:
                    result: frozenset[str] | None = frozenset(self._expand(value_set_url, ()))
                except _Unexpandable:
                    result = None
                self._cache[value_set_url] = result
            return self._cache[value_set_url]

    def _expand(self, url: str, seen: tuple[str, ...]) -> set[str]:
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
            return self._expansion_codes(contains)
        seen = (*seen, url)
        codes: set[str] = set()
        for include in compose.get("include") or []:
            codes |= self._part(include, seen)
        for exclude in compose.get("exclude") or []:
            codes -= self._part(exclude, seen)
        return codes

    def _expansion_codes(self, contains: list[dict[str, Any]]) -> set[str]:
        codes: set[str] = set()
        for item in contains:
            if "code" in item:
                codes.add(item["code"])
            codes |= self._expansion_codes(item.get("contains") or [])
        return codes

    def _part(self, part: dict[str, Any], seen: tuple[str, ...]) -> set[str]:
        """The codes of one compose.include or compose.exclude."""
        result: set[str] | None = None
        system = part.get("system")
        if system is not None:
            result = self._system_part(system, part)
        for imported in part.get("valueSet") or []:
            codes = self._expand(imported, seen)
            result = codes if result is None else result & codes
        if result is None:
            raise _Unexpandable("compose part with neither system nor valueSet")
        return result

    def _system_part(self, system: str, part: dict[str, Any]) -> set[str]:
        explicit = part.get("concept")
        filters = part.get("filter")
        if explicit is not None and not filters:
            return {concept["code"] for concept in explicit if "code" in concept}
        code_system = self._registry.resolve(f"{system}|{part['version']}" if "version" in part else system)
        if code_system is None or code_system.get("resourceType") != "CodeSystem":
            raise _Unexpandable(f"CodeSystem {system} is not loaded")
        if code_system.get("content") != "complete":
            raise _Unexpandable(f"CodeSystem {system} is not complete here")
        concepts = code_system.get("concept") or []
        codes = {concept["code"] for concept in _concepts(concepts) if "code" in concept}
        if explicit is not None:
            codes &= {concept["code"] for concept in explicit if "code" in concept}
        for filter_ in filters or []:
            codes &= self._filter(concepts, codes, filter_)
        return codes

    def _filter(self, concepts: list[dict[str, Any]], all_codes: set[str], filter_: dict[str, Any]) -> set[str]:
        prop, op, value = filter_.get("property"), filter_.get("op"), filter_.get("value")
        if prop != "concept" or not isinstance(value, str):
            raise _Unexpandable(f"filter on {prop!r} is not supported")
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
        raise _Unexpandable(f"filter operator {op!r} is not supported")
