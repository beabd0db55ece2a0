"""JSON Patch (RFC 6902) over a resource's JSON, with JSON Pointers (RFC 6901).

The whole document is checked before anything is applied, so a malformed patch is always a 400 no
matter where the bad operation sits; operations are then applied in order on a private deep copy, so
a patch that stops half-way (failed `test`, missing path: 422) leaves the caller's resource untouched.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from fhir_server.errors import BadRequest, Unprocessable

_OPS = ("add", "remove", "replace", "move", "copy", "test")
_NEEDS_VALUE = frozenset({"add", "replace", "test"})
_NEEDS_FROM = frozenset({"move", "copy"})


@dataclass(frozen=True, slots=True)
class _Operation:
    index: int
    op: str
    path: tuple[str, ...]
    raw_path: str
    value: Any = None
    source: tuple[str, ...] = ()
    raw_source: str = ""

    @property
    def where(self) -> str:
        return f"operations[{self.index}]"

    def fail(self, message: str) -> Unprocessable:
        return Unprocessable(
            f"{self.where} ({self.op} {self.raw_path}): {message}", code="processing", expression=(self.where,)
        )


def parse_pointer(pointer: str, expression: str) -> tuple[str, ...]:
    """Split a JSON Pointer into unescaped reference tokens; `""` is the whole document."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise BadRequest(
            f"{expression}: JSON Pointer {pointer!r} must be empty or start with '/'", expression=(expression,)
        )
    tokens = []
    for token in pointer[1:].split("/"):
        if "~" in token:
            rest = token.replace("~0", "").replace("~1", "")
            if "~" in rest:
                raise BadRequest(
                    f"{expression}: JSON Pointer {pointer!r} has an invalid escape ('~' must be followed by 0 or 1)",
                    expression=(expression,),
                )
            # ~1 first would turn "~01" into "/" instead of "~1" (RFC 6901 §4).
            token = token.replace("~1", "/").replace("~0", "~")
        tokens.append(token)
    return tuple(tokens)


def _parse(operations: object) -> list[_Operation]:
    if not isinstance(operations, list):
        raise BadRequest("a JSON Patch document must be a JSON array of operations", expression=("operations",))
    parsed = []
    for index, raw in enumerate(operations):
        where = f"operations[{index}]"
        if not isinstance(raw, dict):
            raise BadRequest(f"{where}: an operation must be a JSON object", expression=(where,))
        op = raw.get("op")
        if not isinstance(op, str) or op not in _OPS:
            raise BadRequest(f"{where}.op: must be one of {', '.join(_OPS)}, got {op!r}", expression=(f"{where}.op",))
        path = raw.get("path")
        if not isinstance(path, str):
            raise BadRequest(f"{where}.path: a string JSON Pointer is required", expression=(f"{where}.path",))
        tokens = parse_pointer(path, f"{where}.path")
        if op in _NEEDS_VALUE and "value" not in raw:
            raise BadRequest(f"{where}.value: required for {op!r}", expression=(f"{where}.value",))
        source: tuple[str, ...] = ()
        raw_source = ""
        if op in _NEEDS_FROM:
            given = raw.get("from")
            if not isinstance(given, str):
                raise BadRequest(
                    f"{where}.from: a string JSON Pointer is required for {op!r}", expression=(f"{where}.from",)
                )
            raw_source = given
            source = parse_pointer(raw_source, f"{where}.from")
            if op == "move" and len(source) < len(tokens) and tokens[: len(source)] == source:
                raise BadRequest(
                    f"{where}.from: cannot move {raw_source!r} into its own child {path!r}",
                    expression=(f"{where}.from",),
                )
        parsed.append(_Operation(index, op, tokens, path, raw.get("value"), source, raw_source))
    return parsed


def _array_index(token: str, length: int, *, allow_end: bool) -> int | None:
    """The list position a token designates, or None when it designates none (RFC 6901 §4)."""
    if token == "-":
        return length if allow_end else None
    if not token.isdigit() or not token.isascii() or (len(token) > 1 and token[0] == "0"):
        return None
    index = int(token)
    limit = length if allow_end else length - 1
    return index if index <= limit else None


def _describe(tokens: tuple[str, ...]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens) or "(document root)"


def _resolve(document: Any, tokens: tuple[str, ...], operation: _Operation) -> Any:
    node = document
    for depth, token in enumerate(tokens):
        if isinstance(node, dict):
            if token not in node:
                raise operation.fail(f"path {_describe(tokens[: depth + 1])} does not exist")
            node = node[token]
        elif isinstance(node, list):
            index = _array_index(token, len(node), allow_end=False)
            if index is None:
                raise operation.fail(f"path {_describe(tokens[: depth + 1])} does not exist")
            node = node[index]
        else:
            raise operation.fail(f"path {_describe(tokens[:depth])} is not an object or array")
    return node


def _add(document: Any, tokens: tuple[str, ...], value: Any, operation: _Operation) -> Any:
    if not tokens:
        return value
    parent = _resolve(document, tokens[:-1], operation)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        index = _array_index(last, len(parent), allow_end=True)
        if index is None:
            raise operation.fail(f"{_describe(tokens)} is not a valid position in an array of {len(parent)}")
        parent.insert(index, value)
    else:
        raise operation.fail(f"path {_describe(tokens[:-1])} is not an object or array")
    return document


def _remove(document: Any, tokens: tuple[str, ...], operation: _Operation) -> tuple[Any, Any]:
    """Remove the target; returns (document, removed value)."""
    if not tokens:
        raise operation.fail("cannot remove the whole document")
    parent = _resolve(document, tokens[:-1], operation)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise operation.fail(f"path {_describe(tokens)} does not exist")
        return document, parent.pop(last)
    if isinstance(parent, list):
        index = _array_index(last, len(parent), allow_end=False)
        if index is None:
            raise operation.fail(f"path {_describe(tokens)} does not exist")
        return document, parent.pop(index)
    raise operation.fail(f"path {_describe(tokens[:-1])} is not an object or array")


def _replace(document: Any, tokens: tuple[str, ...], value: Any, operation: _Operation) -> Any:
    """Replace in place, so an object member keeps its position among its siblings."""
    if not tokens:
        return value
    parent = _resolve(document, tokens[:-1], operation)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        parent[last] = value
        return document
    if isinstance(parent, list):
        index = _array_index(last, len(parent), allow_end=False)
        if index is not None:
            parent[index] = value
            return document
    if not isinstance(parent, dict | list):
        raise operation.fail(f"path {_describe(tokens[:-1])} is not an object or array")
    raise operation.fail(f"path {_describe(tokens)} does not exist")


def json_equal(a: Any, b: Any) -> bool:
    """RFC 6902 `test` equality: like `==` but booleans are not numbers (Python has True == 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _apply(document: Any, operation: _Operation) -> Any:
    op = operation.op
    if op == "add":
        return _add(document, operation.path, copy.deepcopy(operation.value), operation)
    if op == "remove":
        return _remove(document, operation.path, operation)[0]
    if op == "replace":
        return _replace(document, operation.path, copy.deepcopy(operation.value), operation)
    if op == "move":
        if operation.source == operation.path:
            _resolve(document, operation.source, operation)
            return document
        document, value = _remove(document, operation.source, operation)
        return _add(document, operation.path, value, operation)
    if op == "copy":
        value = copy.deepcopy(_resolve(document, operation.source, operation))
        return _add(document, operation.path, value, operation)
    actual = _resolve(document, operation.path, operation)
    if not json_equal(actual, operation.value):
        raise operation.fail(f"test failed: value is {actual!r}, expected {operation.value!r}")
    return document


def apply_json_patch(resource: dict[str, Any], operations: object) -> dict[str, Any]:
    """Apply a JSON Patch document to a resource and return the patched copy.

    Raises BadRequest (400) for a malformed patch document and Unprocessable (422) when a valid
    patch cannot be applied to this resource (missing path, failed `test`).
    """
    parsed = _parse(operations)
    document: Any = copy.deepcopy(resource)
    for operation in parsed:
        document = _apply(document, operation)
    if not isinstance(document, dict):
        raise Unprocessable("the patched document is not a JSON object", code="processing")
    return document
