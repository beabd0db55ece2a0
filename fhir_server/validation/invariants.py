"""FHIRPath invariants (`ElementDefinition.constraint`) evaluated with fhirpathpy.

Expressions are compiled once per text. fhirpathpy lacks a few functions that R4 invariants use;
they are added here with the meaning the spec gives them:

- `hasValue()`: the node is a primitive with a value (not only extensions);
- `htmlChecks()`: the narrative is an XHTML `div` without scripts, event handlers or forms; the
  structural validator has already checked that it is well formed;
- `resolve()`: contained resources (`#id`) and entries of the Bundle being validated, otherwise a
  node typed from the reference string, so `resolve() is Patient` works without a database;
- `memberOf(url)`: ValueSet membership from the locally expanded ValueSets (empty when unknown).

`ele-1` is not evaluated: the structural validator rejects empty objects, arrays and nulls, which is
what it states. An expression that cannot be evaluated yields a warning naming the invariant, never
a silent pass.
"""

from __future__ import annotations

import contextvars
import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fhirpathpy
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

from .bindings import ValueSetExpander
from .patterns import choice_value

R4_MODEL = models["r4"]
SKIPPED = frozenset({"ele-1"})
_UNSAFE_HTML = re.compile(r"<\s*(script|object|applet|embed|form|iframe|base|link|meta)\b|\son[a-z]+\s*=", re.I)


@dataclass(frozen=True)
class Scope:
    """What `%resource`, `%rootResource` and `resolve()` see during one evaluation."""

    resource: dict[str, Any]
    root: dict[str, Any]
    bundle: dict[str, Any] | None = None


_UNSET = object()
_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("invariant_scope", default=None)


def _has_value(inputs: list[Any]) -> bool:
    return len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict | list)


def _html_checks(inputs: list[Any]) -> bool:
    for item in inputs:
        div = item.get("div") if isinstance(item, dict) else item
        if isinstance(div, str) and _UNSAFE_HTML.search(div):
            return False
    return True


def _local_target(reference: str, scope: Scope) -> dict[str, Any] | None:
    if reference.startswith("#"):
        wanted = reference[1:]
        for contained in scope.root.get("contained") or []:
            if isinstance(contained, dict) and contained.get("id") == wanted:
                return contained
        return None
    if scope.bundle is not None:
        for entry in scope.bundle.get("entry") or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
                continue
            full_url = entry.get("fullUrl") or ""
            res = entry["resource"]
            if reference == full_url or full_url.endswith("/" + reference) or (
                f"{res.get('resourceType')}/{res.get('id')}" == reference
            ):
                return res
    return None


def _resolve(inputs: list[Any]) -> list[Any]:
    scope = _scope.get()
    out: list[Any] = []
    for item in inputs:
        reference = item.get("reference") if isinstance(item, dict) else item
        if not isinstance(reference, str):
            continue
        target = _local_target(reference, scope) if scope else None
        if target is not None:
            out.append(ResourceNode.create_node(target))
            continue
        parts = reference.split("/_history/")[0].rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2][:1].isupper():
            out.append(ResourceNode.create_node({"resourceType": parts[-2], "id": parts[-1]}))
    return out


def _references(value: Any, out: set[str]) -> None:
    """Every string of a resource that is a local reference (`#id` or `#`)."""
    if isinstance(value, dict):
        for item in value.values():
            _references(item, out)
    elif isinstance(value, list):
        for item in value:
            _references(item, out)
    elif isinstance(value, str) and value.startswith("#"):
        out.add(value)


def _dom_3(focus: Any, scope: Scope) -> bool:
    """Every contained resource is referenced from the resource, or refers to it with `#`."""
    contained = focus.get("contained") if isinstance(focus, dict) else None
    if not contained:
        return True
    found: set[str] = set()
    _references(focus, found)
    for item in contained:
        if not isinstance(item, dict):
            continue
        if "#" + str(item.get("id")) in found:
            continue
        inner: set[str] = set()
        _references(item, inner)
        if "#" not in inner:
            return False
    return True


def _contained(focus: Any) -> list[dict[str, Any]]:
    items = focus.get("contained") if isinstance(focus, dict) else None
    return [c for c in items if isinstance(c, dict)] if isinstance(items, list) else []


def _contained_meta(focus: Any, *keys: str) -> bool:
    """No contained resource carries any of `keys` in its meta."""
    for item in _contained(focus):
        meta = item.get("meta")
        if isinstance(meta, dict) and any(meta.get(k) is not None for k in keys):
            return False
    return True


def _ref_1(focus: Any, scope: Scope) -> bool:
    reference = focus.get("reference") if isinstance(focus, dict) else None
    if not isinstance(reference, str) or not reference.startswith("#"):
        return True
    return reference[1:] in {c.get("id") for c in _contained(scope.root)}


def _ext_1(focus: Any, scope: Scope) -> bool:
    if not isinstance(focus, dict):
        return True
    has_value = any(
        (k.startswith("value") and k[5:6].isupper()) or (k.startswith("_value") and k[6:7].isupper()) for k in focus
    )
    return bool(focus.get("extension")) != has_value


def _tim_9(focus: Any, scope: Scope) -> bool:
    if not isinstance(focus, dict) or focus.get("offset") is None:
        return True
    when = focus.get("when")
    values = when if isinstance(when, list) else [when] if when is not None else []
    return bool(values) and not any(v in ("C", "CM", "CD", "CV") for v in values)


def _rng_2(focus: Any, scope: Scope) -> bool:
    """Quantities of different units that cannot be compared give an empty result: the range holds."""
    if not isinstance(focus, dict):
        return True
    low, high = focus.get("low"), focus.get("high")
    if not isinstance(low, dict) or not isinstance(high, dict):
        return True
    if (low.get("system"), low.get("code")) != (high.get("system"), high.get("code")):
        return True
    a, b = low.get("value"), high.get("value")
    if not isinstance(a, int | float) or not isinstance(b, int | float) or isinstance(a, bool) or isinstance(b, bool):
        return True
    return bool(a <= b)


# Invariants evaluated natively, keyed by constraint key with the exact R4 expression they replace. They
# are the ones found on almost every element (ref-1, ext-1) or resource (dom-*): evaluating them with
# the engine costs 50-150 µs each. dom-3 also needs `as` on collections, which fhirpathpy rejects.
# tests/validation/test_invariants.py checks each against the engine on the same inputs.
NATIVE: dict[str, tuple[str, Callable[[Any, Scope], bool]]] = {
    "dom-2": ("contained.contained.empty()", lambda f, s: not any(c.get("contained") for c in _contained(f))),
    "dom-4": (
        "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()",
        lambda f, s: _contained_meta(f, "versionId", "lastUpdated"),
    ),
    "dom-5": ("contained.meta.security.empty()", lambda f, s: _contained_meta(f, "security")),
    "dom-6": (
        "text.`div`.exists()",
        lambda f, s: isinstance(f, dict) and isinstance(f.get("text"), dict) and f["text"].get("div") is not None,
    ),
    "ref-1": (
        "reference.startsWith('#').not() or (reference.substring(1).trace('url') in "
        "%rootResource.contained.id.trace('ids'))",
        _ref_1,
    ),
    "ext-1": ("extension.exists() != value.exists()", _ext_1),
    # fhirpathpy rejects `in` against a literal union, and `<=` between non-UCUM quantities.
    "tim-9": ("offset.empty() or (when.exists() and ((when in ('C' | 'CM' | 'CD' | 'CV')).not()))", _tim_9),
    "rng-2": ("low.empty() or high.empty() or (low <= high)", _rng_2),
    "dom-3": (
        "contained.where((('#'+id in (%resource.descendants().reference | %resource.descendants().as(canonical) | "
        "%resource.descendants().as(uri) | %resource.descendants().as(url))) or descendants().where(reference = "
        "'#').exists() or descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) = "
        "'#').exists()).not()).trace('unmatched', id).empty()",
        _dom_3,
    ),
}


_PATH = r"[a-z_]\w*(?:\.[a-z_]\w*)*"
_EMPTY = re.compile(rf"^({_PATH})\.empty\(\)$")
_EXISTS = re.compile(rf"^({_PATH})\.exists\(\)$")
_EMPTY_OR_EXISTS = re.compile(rf"^({_PATH})\.empty\(\) or ({_PATH})\.exists\(\)$")
_EMPTY_OR_EMPTY = re.compile(rf"^({_PATH})\.empty\(\) or ({_PATH})\.empty\(\)$")
_NOT_BOTH = re.compile(rf"^\(({_PATH})\.exists\(\) and ({_PATH})\.exists\(\)\)\.not\(\)$")
_GUARD_IMPLIES = re.compile(rf"^({_PATH})\.exists\(\) implies ")
_GUARD_OR = re.compile(rf"^({_PATH})\.empty\(\) or ")
# `a.b contains 'x' implies …`, `extension('url').value.code = 'x' implies …`: the profiles' conditional rules.
_STEP = r"(?:extension\('[^']*'\)|[a-z_]\w*)"
_STEP_PARTS = re.compile(r"extension\('([^']*)'\)|([a-z_]\w*)")
_GUARD_LITERAL = re.compile(rf"^({_STEP}(?:\.{_STEP})*) (?:contains|=) '([^'\\]*)' implies ")
_ALL_EXIST = re.compile(rf"^\(?({_STEP}(?:\.{_STEP})*\.exists\(\)(?: and {_STEP}(?:\.{_STEP})*\.exists\(\))*)\)?$")
# The profiles' tests on values: `a.b contains 'x'`, `a.all(b.startsWith('x'))`, `a.all(b = 0)`.
_CONTAINS = re.compile(rf"^({_STEP}(?:\.{_STEP})*) contains '([^'\\]*)'$")
_ALL_STARTS_WITH = re.compile(rf"^({_STEP}(?:\.{_STEP})*)\.all\(({_PATH})\.startsWith\('([^'\\]*)'\)\)$")
_ALL_EQUAL_INTEGER = re.compile(rf"^({_STEP}(?:\.{_STEP})*)\.all\(({_PATH}) = (\d+)\)$")
_PERIOD_ORDER = "start.hasValue().not() or end.hasValue().not() or (start <= end)"  # per-1
_TIMEZONE = re.compile(r"(Z|[+-]\d\d:\d\d)$")

Fast = Callable[[Any], "bool | None"]


def _values(focus: Any, steps: tuple[tuple[str, str], ...]) -> list[Any]:
    """The nodes a simple child path reaches in JSON: `("name", element)` steps (lower-case names) and
    `("extension", url)` steps. A primitive with only extensions (`_name`) counts, as it does for
    FHIRPath; a choice element is named by its base name (`value` finds `valueString`)."""
    items = [focus]
    for kind, part in steps:
        found: list[Any] = []
        for item in items:
            if not isinstance(item, dict):
                continue
            if kind == "extension":
                found.extend(e for e in item.get("extension") or [] if isinstance(e, dict) and e.get("url") == part)
                continue
            value = item.get(part)
            if value is None:
                value = item.get("_" + part)
            if value is None:
                value = choice_value(item, part)
            if value is None:
                continue
            found.extend(v for v in value if v is not None) if isinstance(value, list) else found.append(value)
        if not found:
            return []
        items = found
    return items


@functools.cache
def _steps(path: str) -> tuple[tuple[str, str], ...]:
    return tuple(("extension", url) if url else ("name", name) for url, name in _STEP_PARTS.findall(path))


def _present(focus: Any, path: str) -> bool:
    return bool(_values(focus, _steps(path)))


def _period_order(focus: Any) -> bool | None:
    """per-1 when start and end have the same precision and time zone (then their text orders them);
    otherwise the engine decides (different precisions may compare as empty)."""
    if not isinstance(focus, dict):
        return True
    start, end = focus.get("start"), focus.get("end")
    if not isinstance(start, str) or not isinstance(end, str):
        return True  # one of them has no value
    zone_a, zone_b = _TIMEZONE.search(start), _TIMEZONE.search(end)
    if (zone_a and zone_a.group(1)) != (zone_b and zone_b.group(1)):
        return None
    if len(start) != len(end) or [c.isdigit() for c in start] != [c.isdigit() for c in end]:
        return None
    return start <= end


def _test(expression: str) -> Fast | None:
    """Direct evaluation of a test on values, when every value it compares is of the literal's type
    (a string for `contains` and `startsWith`, an integer for `=`); None otherwise, and the engine
    decides, as it does for `all` over several items. `contains` on nothing is false, `all` on nothing
    is true, as the spec says."""
    if m := _CONTAINS.match(expression):
        steps, literal = _steps(m.group(1)), m.group(2)

        def contains(f: Any) -> bool | None:
            values = _values(f, steps)
            return literal in values if all(isinstance(v, str) for v in values) else None
        return contains
    if (m := _ALL_STARTS_WITH.match(expression)) or (m := _ALL_EQUAL_INTEGER.match(expression)):
        items_at, inner, literal = _steps(m.group(1)), _steps(m.group(2)), m.group(3)
        starts = expression.endswith("'))")

        def holds_for(item: Any) -> bool | None:
            found = _values(item, inner)
            if len(found) != 1:
                return None
            if starts:
                return found[0].startswith(literal) if isinstance(found[0], str) else None
            return found[0] == int(literal) if isinstance(found[0], int) and not isinstance(found[0], bool) else None

        def all_items(f: Any) -> bool | None:
            items = _values(f, items_at)
            if len(items) > 1:  # fhirpathpy tests only the first of several extensions: the engine decides
                return None
            return holds_for(items[0]) if items else True
        return all_items
    return None


def _fast(expression: str) -> Fast | None:
    """Direct evaluation of the simple shapes most element invariants take (`a.empty() or
    b.exists()`, `a.exists() implies …` when `a` is absent, `a contains 'x' implies …` when `a` does not
    hold 'x', per-1 on same-precision dates…). It answers None when the engine must decide.
    tests/validation/test_invariants.py checks it against the engine on every R4 and IG invariant."""
    if expression == _PERIOD_ORDER:
        return _period_order
    if m := _EMPTY.match(expression):
        a = m.group(1)
        return lambda f: not _present(f, a)
    if m := _EXISTS.match(expression):
        a = m.group(1)
        return lambda f: _present(f, a)
    if m := _EMPTY_OR_EXISTS.match(expression):
        a, b = m.groups()
        return lambda f: not _present(f, a) or _present(f, b)
    if m := _EMPTY_OR_EMPTY.match(expression):
        a, b = m.groups()
        return lambda f: not _present(f, a) or not _present(f, b)
    if m := _NOT_BOTH.match(expression):
        a, b = m.groups()
        return lambda f: not (_present(f, a) and _present(f, b))
    if m := _GUARD_IMPLIES.match(expression) or _GUARD_OR.match(expression):
        a = m.group(1)
        return lambda f: True if not _present(f, a) else None
    if m := _GUARD_LITERAL.match(expression):
        # `false implies x` and `{} implies x` both hold (the latter is true or empty): only a left side
        # holding the literal needs the engine.
        steps, literal = _steps(m.group(1)), m.group(2)
        # `true implies (a.exists() and b.exists())` is the conjunction: decided directly too, and so is
        # `true implies <test>` when the left side is exactly the literal (one value: true for `=` and
        # for `contains`).
        then = _ALL_EXIST.match(expression[m.end():])
        required = [_steps(p.removesuffix(".exists()")) for p in then.group(1).split(" and ")] if then else None
        test = _test(expression[m.end():])

        def guarded(f: Any) -> bool | None:
            values = _values(f, steps)
            if literal not in values:
                return True
            if required is not None:
                return all(_values(f, r) for r in required)
            return test(f) if test is not None and values == [literal] else None
        return guarded
    return _test(expression)


class InvariantEngine:
    """Compiles and evaluates constraint expressions; thread-safe."""

    def __init__(self, value_sets: ValueSetExpander) -> None:
        self._value_sets = value_sets
        self._compiled: dict[str, Callable[..., list[Any]] | str] = {}
        self._fast: dict[str, object] = {}
        self._lock = threading.Lock()
        self._options = {
            "userInvocationTable": {
                "hasValue": {"fn": _has_value, "arity": {0: []}},
                "htmlChecks": {"fn": _html_checks, "arity": {0: []}},
                "resolve": {"fn": _resolve, "arity": {0: []}},
                "memberOf": {"fn": self._member_of, "arity": {1: ["String"]}},
            },
            "traceFn": lambda _label, _value: None,
        }

    def _member_of(self, inputs: list[Any], url: str) -> list[bool]:
        expansion = self._value_sets.expansion(url)
        if expansion is None or not inputs:
            return []
        results = []
        for item in inputs:
            if isinstance(item, str):
                found = expansion.contains(None, item)
            elif isinstance(item, dict) and "coding" in item:
                found = any(expansion.contains(c.get("system"), c.get("code", "")) for c in item["coding"] or [])
            elif isinstance(item, dict):
                found = expansion.contains(item.get("system"), item.get("code", ""))
            else:
                found = None
            if found is None:
                return []
            results.append(bool(found))
        return [all(results)]

    def compiled(self, expression: str) -> Callable[..., list[Any]] | str:
        """The compiled expression, or the parse error message."""
        found = self._compiled.get(expression)
        if found is None:
            with self._lock:
                try:
                    found = fhirpathpy.compile(expression, R4_MODEL, self._options)
                except Exception as exc:  # noqa: BLE001 - any parser failure is reported, not raised
                    found = f"cannot be parsed: {exc}"
                self._compiled[expression] = found
        return found

    def holds(self, expression: str, focus: Any, model_path: str | None, scope: Scope, key: str = "") -> bool | str:
        """True when the invariant holds on `focus`, False when violated, or an error text."""
        native = NATIVE.get(key)
        if native is not None and native[0] == expression:
            return native[1](focus, scope)
        fast = self._fast.get(expression, _UNSET)
        if fast is _UNSET:
            fast = self._fast[expression] = _fast(expression)
        if fast is not None:
            decided = fast(focus)  # type: ignore[operator]
            if decided is not None:
                return decided
        return self.evaluate(expression, focus, model_path, scope)

    def evaluate(self, expression: str, focus: Any, model_path: str | None, scope: Scope) -> bool | str:
        """The engine's answer, without any native or direct shortcut (tests compare both)."""
        compiled = self.compiled(expression)
        if isinstance(compiled, str):
            return compiled
        node = ResourceNode.create_node(focus, model_path)
        variables = {"resource": scope.resource, "rootResource": scope.root}
        token = _scope.set(scope)
        try:
            result = compiled(node, variables)
        except Exception as exc:  # noqa: BLE001 - the engine raises bare Exceptions for unsupported cases
            return f"cannot be evaluated: {exc}"
        finally:
            _scope.reset(token)
        if not result:
            return True  # an empty result does not violate the invariant
        if len(result) == 1 and isinstance(result[0], bool):
            return result[0]
        return f"does not evaluate to a single boolean (got {len(result)} values)"
