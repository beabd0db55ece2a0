"""From a FHIRPath expression to the places in a resource's JSON that it selects.

fhirpathpy returns values, not places, but each result node remembers the path it was reached by
(`propName`, e.g. `Patient.name[0].given[1]`); walking that path through the JSON, with the
StructureModel to resolve choice names (`deceased` → `deceasedBoolean`), gives the place. Results
reached in ways that lose the path (unions, `extension(url)`) are found by object identity instead;
anything else (computed values, other resources) is not part of the resource and cannot be patched.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fhirpathpy
from antlr4 import CommonTokenStream, InputStream
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from fhir_server.formats.structure import Child, Context, Kind, StructureModel
from fhir_server.patch.elements import Step

_SEGMENT = re.compile(r"([A-Za-z][A-Za-z0-9]*)(?:\[(\d+)\])?")
_R4 = models["r4"]
_KEYWORD_MEMBER = re.compile(r"\s*(div|mod|and|or|xor|implies)(?![A-Za-z0-9_])")


class FhirPathSyntaxError(ValueError):
    """The expression is not FHIRPath; the message says where."""


class LocateError(ValueError):
    """The expression selects something that is not an element of the resource."""


class _RaisingListener(ErrorListener):
    def syntaxError(self, recognizer: Any, offending: Any, line: int, column: int, msg: str, e: Any) -> None:  # noqa: N802
        raise FhirPathSyntaxError(f"FHIRPath syntax error at character {column + 1}: {msg}")


def check_syntax(expression: str) -> None:
    """fhirpathpy silently recovers from syntax errors (and then evaluates something else), so the
    patch path is parsed strictly first with the same grammar."""
    listener = _RaisingListener()
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    parser = FHIRPathParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    parser.entireExpression()


def quote_keyword_members(expression: str) -> str:
    """Write `.div` as `` .`div` ``: `div` is a FHIRPath operator, so the grammar rejects it as a
    member name, yet `Patient.text.div` is how everyone (the official patch tests included) names
    the narrative. After a `.` an operator cannot follow, so quoting there changes no meaning."""
    out: list[str] = []
    i, n = 0, len(expression)
    while i < n:
        ch = expression[i]
        if ch in "'`":
            end = i + 1
            while end < n and expression[end] != ch:
                end += 2 if expression[end] == "\\" else 1
            out.append(expression[i : end + 1])
            i = end + 1
            continue
        if ch == ".":
            match = _KEYWORD_MEMBER.match(expression, i + 1)
            if match:
                out.append(f".`{match.group(1)}`")
                i = match.end()
                continue
        out.append(ch)
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=2048)
def compile_path(expression: str) -> Callable[..., list[Any]]:
    """Checked and compiled once per distinct expression; raises FhirPathSyntaxError."""
    if not expression.strip():
        raise FhirPathSyntaxError("the FHIRPath expression is empty")
    expression = quote_keyword_members(expression)
    check_syntax(expression)
    return fhirpathpy.compile(expression, model=_R4, options={"returnRawData": True})


@dataclass(frozen=True, slots=True)
class Location:
    """A selected element: `steps` lead from the resource root to it (empty: the root itself)."""

    steps: tuple[Step, ...]
    child: Child | None  # its definition, None for the root resource
    context: Context | None  # where its own children are defined
    parent: Context | None = None  # where it is itself defined (to find the other forms of a choice)

    @property
    def step(self) -> Step:
        return self.steps[-1]

    @property
    def is_root(self) -> bool:
        return not self.steps

    def value(self, root: dict[str, Any]) -> Any:
        return self.steps[-1].designated() if self.steps else root

    def identity(self) -> tuple[int, str, int | None, bool] | None:
        if not self.steps:
            return None
        s = self.steps[-1]
        return id(s.owner), s.key, s.index, s.holder


def child_context(model: StructureModel, child: Child | None, value: Any) -> Context | None:
    if child is None:
        return None
    if child.kind is Kind.RESOURCE:
        rt = value.get("resourceType") if isinstance(value, dict) else None
        return model.resource_context(rt) if isinstance(rt, str) else None
    if child.kind is Kind.PRIMITIVE:
        return model.type_context(child.type_code)
    return child.context


def _resolve_key(model: StructureModel, owner: dict[str, Any], context: Context | None, name: str) -> str | None:
    """The JSON key of element `name` in `owner`: itself, or the present form of a choice."""
    if name in owner or "_" + name in owner:
        return name
    if context is not None:
        for concrete in model.children(context).choices.get(name, {}).values():
            if concrete.name in owner or "_" + concrete.name in owner:
                return concrete.name
    return None


def walk(model: StructureModel, root: dict[str, Any], segments: list[tuple[str, int | None]]) -> Location:
    """Follow JSON keys (or base names of choices; `_key` for a primitive's extras) from the root."""
    steps: list[Step] = []
    owner = root
    context = model.resource_context(str(root.get("resourceType")))
    child: Child | None = None
    parent = context
    for position, (name, index) in enumerate(segments):
        parent = context
        holder = name.startswith("_")
        key = _resolve_key(model, owner, context, name[1:] if holder else name)
        if key is None:
            raise LocateError(f"no element {name!r} here")
        child = model.children(context).by_name.get(key) if context is not None else None
        step = Step(owner, key, index, holder)
        if index is not None and not any(
            isinstance(present, list) and index < len(present) for present in (owner.get(key), owner.get("_" + key))
        ):
            raise LocateError(f"no element {name}[{index}] here")
        steps.append(step)
        if position == len(segments) - 1:
            break
        target = step.designated()
        if isinstance(target, dict):
            owner = target
            context = model.type_context(child.type_code) if holder and child else child_context(model, child, target)
        else:
            # Reaching into a primitive (its `id` or `extension`) means reaching into `_key`.
            extra = step.extra()
            if not isinstance(extra, dict):
                raise LocateError(f"{name} has no extensions or id")
            steps[-1] = Step(owner, key, index, True)
            owner = extra
            context = model.type_context(child.type_code) if child else None
    if not steps:
        return Location((), None, context)
    last = steps[-1]
    if last.holder:
        # A `_key` object stands for its primitive element, which is what gets patched.
        last = steps[-1] = Step(last.owner, last.key, last.index)
    return Location(tuple(steps), child, child_context(model, child, last.value()), parent)


def _segments_from_prop_name(prop_name: str) -> list[tuple[str, int | None]] | None:
    parts = prop_name.split(".")[1:]  # the first part is the root resource type
    segments: list[tuple[str, int | None]] = []
    for part in parts:
        match = _SEGMENT.fullmatch(part)
        if match is None:
            return None
        segments.append((match.group(1), int(match.group(2)) if match.group(2) is not None else None))
    return segments


def _find_identity(node: Any, target: Any, trail: list[tuple[str, int | None]]) -> list[tuple[str, int | None]] | None:
    if node is target:
        return list(trail)
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, dict | list):
                        trail.append((key, i))
                        found = _find_identity(item, target, trail)
                        trail.pop()
                        if found is not None:
                            return found
            elif isinstance(value, dict):
                trail.append((key, None))
                found = _find_identity(value, target, trail)
                trail.pop()
                if found is not None:
                    return found
    return None


def _matches(location: Location, root: dict[str, Any], data: Any) -> bool:
    """Guard against a propName that does not lead where the node came from."""
    if location.is_root:
        return data is root
    step = location.step
    if isinstance(data, dict):
        return data is step.designated() or data is step.extra()
    return data is None or data == step.designated()


def _locate_node(model: StructureModel, root: dict[str, Any], node: Any) -> Location:
    if not isinstance(node, ResourceNode):
        raise LocateError("the expression computes a value instead of selecting an element")
    data = node.data
    if data is root:
        return Location((), None, model.resource_context(str(root.get("resourceType"))))
    if node.propName:
        segments = _segments_from_prop_name(node.propName)
        if segments is not None:
            try:
                location = walk(model, root, segments)
            except LocateError:
                location = None
            if location is not None and _matches(location, root, data):
                return location
    if isinstance(data, dict):
        trail = _find_identity(root, data, [])
        if trail is not None:
            return walk(model, root, trail)
    raise LocateError("the expression selects something that is not an element of this resource")


def evaluate(model: StructureModel, root: dict[str, Any], expression: str) -> list[Location]:
    """Every distinct element of `root` that `expression` selects, in result order."""
    fn = compile_path(expression)
    nodes = fn(root)
    found: list[Location] = []
    seen: set[Any] = set()
    for node in nodes:
        location = _locate_node(model, root, node)
        identity = location.identity()
        if identity in seen:
            continue  # a primitive's value and its `_name` extras are two nodes for one element
        seen.add(identity)
        found.append(location)
    return found
