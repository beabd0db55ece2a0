"""A direct evaluator for the FHIRPath forms that make up ~95 % of SearchParameter expressions.

Plain paths (`Patient.name.given`), casts (`(Observation.value as Quantity)`, `.as(T)`, `.ofType(T)`),
`where(resolve() is T)`, `where(elem = 'literal')`, `extension('url')` and `[n]` are compiled once per
resource type into steps that walk the JSON dicts directly; everything else is left to the FHIRPath
engine (`fhirpath.py`). `compile_branch` returns None for what it does not understand, so a wrong guess
is impossible: an expression is either handled completely or not at all. Results are (type, value)
pairs with the same types the engine reports, which the tests check on real resources.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import model
from .references import reference_type

Typed = tuple[str, Any]
Node = tuple[Any, str]  # (JSON value, model path)

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_CAST = re.compile(rf"^\((.+) as ({_IDENT})\)((?:\.{_IDENT})*)$")
_STEP_NAME = re.compile(rf"^({_IDENT})(?:\[(\d+)\])?$")
_STEP_CAST = re.compile(rf"^(as|ofType)\(({_IDENT})\)$")
_STEP_RESOLVE = re.compile(rf"^where\(resolve\(\) is ({_IDENT})\)$")
_STEP_WHERE_EQ = re.compile(rf"^where\(({_IDENT})\s*=\s*'([^'\\]*)'\)$")
_STEP_EXTENSION = re.compile(r"^extension\('([^'\\]*)'\)$")
_STEP_FIRST = "first()"
# `Patient.deceased.exists() and Patient.deceased != false`: a boolean from a boolean-or-date choice.
_EXISTS_NOT_FALSE = re.compile(r"^(.+)\.exists\(\) and (.+) != false$")


@dataclass(frozen=True)
class CompiledPath:
    """A compiled branch: apply `run` to the start node (the resource, or a composite's base node).

    `first_keys` are the JSON keys the first step reads (None when it reads none): a resource that has
    none of them yields nothing, which lets the indexer skip most parameters with one dict lookup."""

    text: str
    run: Callable[[list[Node]], list[Node]]
    first_keys: frozenset[str] | None = None

    def evaluate(self, start: list[Node]) -> list[Typed]:
        type_of = model.type_of
        return [(type_of(path), value) for value, path in self.run(start)]


def split_top_level(expression: str, separator: str = "|") -> list[str]:
    """Split on a separator outside parentheses, brackets and string literals."""
    parts: list[str] = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    while i < len(expression):
        ch = expression[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == "'":
                quoted = False
        elif ch == "'":
            quoted = True
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and expression.startswith(separator, i):
            parts.append(expression[start:i].strip())
            start = i + len(separator)
            i = start
            continue
        i += 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


def branch_root(branch: str) -> str | None:
    """The first identifier of a branch, ignoring an opening parenthesis: its resource type for
    absolute paths (`Patient.name`), an element name for relative ones (`value.as(Quantity)`)."""
    match = re.match(rf"^\(*\s*({_IDENT})", branch)
    return match.group(1) if match else None


def compile_branch(branch: str, start_path: str, relative: bool = False) -> CompiledPath | None:
    """Compile one `|`-free branch for nodes at model path `start_path`.

    Absolute branches start with a type name (the resource type, `Resource` or `DomainResource`) that
    the start node must be; `relative` ones (composite components) start at the node itself."""
    text = branch.strip()
    flag = _EXISTS_NOT_FALSE.match(text)
    if flag and flag.group(1) == flag.group(2):
        return _compile_exists_not_false(flag.group(1), start_path, relative)
    cast = _CAST.match(text)
    if cast:
        text = f"{cast.group(1)}.as({cast.group(2)}){cast.group(3)}"
    raw_steps = split_top_level(text, ".")
    if not raw_steps:
        return None
    if not relative:
        root = raw_steps[0]
        if not re.fullmatch(_IDENT, root) or not (root == start_path or model.is_a(start_path, root)):
            return None
        raw_steps = raw_steps[1:]
    first_keys: frozenset[str] | None = None
    if raw_steps and (first := _STEP_NAME.match(raw_steps[0].strip())) and start_path != model.RESOURCE_TYPE:
        first_keys = frozenset(child.key for child in model.children(start_path, first.group(1)))
    steps: list[Callable[[list[Node]], list[Node]]] = []
    for raw in raw_steps:
        step = _compile_step(raw.strip())
        if step is None:
            return None
        steps.append(step)

    def run(nodes: list[Node]) -> list[Node]:
        for step in steps:
            if not nodes:
                return nodes
            nodes = step(nodes)
        return nodes

    return CompiledPath(branch, run, first_keys)


def _compile_exists_not_false(path: str, start_path: str, relative: bool) -> CompiledPath | None:
    """`P.exists() and P != false`: false when P is empty (`false and …`), else whether P differs from
    the single boolean false."""
    inner = compile_branch(path, start_path, relative)
    if inner is None:
        return None

    def run(nodes: list[Node]) -> list[Node]:
        found = inner.run(nodes)
        return [(bool(found) and not (len(found) == 1 and found[0][0] is False), "boolean")]

    return CompiledPath(f"{path}.exists() and {path} != false", run, None)


def _compile_step(raw: str) -> Callable[[list[Node]], list[Node]] | None:
    if raw == _STEP_FIRST:
        return lambda nodes: nodes[:1]
    match = _STEP_NAME.match(raw)
    if match:
        name, index = match.group(1), match.group(2)
        if name in ("where", "as", "ofType", "extension", "first", "exists", "resolve"):
            return None
        child = _child_step(name)
        if index is None:
            return child
        position = int(index)
        return lambda nodes: child(nodes)[position : position + 1]
    match = _STEP_CAST.match(raw)
    if match:
        return _cast_step(match.group(2))
    match = _STEP_RESOLVE.match(raw)
    if match:
        wanted = match.group(1)
        return lambda nodes: [n for n in nodes if _reference_is(n[0], wanted)]
    match = _STEP_WHERE_EQ.match(raw)
    if match:
        return _where_equals_step(match.group(1), match.group(2))
    match = _STEP_EXTENSION.match(raw)
    if match:
        url = match.group(1)
        child = _child_step("extension")
        return lambda nodes: [n for n in child(nodes) if isinstance(n[0], dict) and n[0].get("url") == url]
    return None


def _child_step(name: str) -> Callable[[list[Node]], list[Node]]:
    known: dict[str, tuple[model.Child, ...]] = {}  # path → children, without the global cache's hashing

    def step(nodes: list[Node]) -> list[Node]:
        out: list[Node] = []
        for value, path in nodes:
            if not isinstance(value, dict):
                continue
            if path == model.RESOURCE_TYPE:
                path = value.get("resourceType", path)
            found_children = known.get(path)
            if found_children is None:
                found_children = known[path] = model.children(path, name)
            for child in found_children:
                found = value.get(child.key)
                if found is None:
                    continue
                if isinstance(found, list):
                    out.extend((item, child.path) for item in found if item is not None)
                else:
                    out.append((found, child.path))
        return out

    return step


def _cast_step(wanted: str) -> Callable[[list[Node]], list[Node]]:
    def step(nodes: list[Node]) -> list[Node]:
        out: list[Node] = []
        for value, path in nodes:
            type_name = model.type_of(path)
            if type_name == model.RESOURCE_TYPE and isinstance(value, dict):
                actual = value.get("resourceType", "")
                if actual and model.is_a(actual, wanted):
                    out.append((value, actual))
            elif model.is_a(type_name, wanted):
                out.append((value, path))
        return out

    return step


def _where_equals_step(element: str, literal: str) -> Callable[[list[Node]], list[Node]]:
    child = _child_step(element)

    def step(nodes: list[Node]) -> list[Node]:
        return [node for node in nodes if [v for v, _ in child([node])] == [literal]]

    return step


def _reference_is(value: Any, wanted: str) -> bool:
    return isinstance(value, dict) and reference_type(value) == wanted
