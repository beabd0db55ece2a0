"""FHIRPath invariants: the natively evaluated ones agree with the engine wherever the engine can
evaluate them, and the functions we add to fhirpathpy behave as the spec says."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.validation.bindings import ValueSetExpander
from fhir_server.validation.invariants import NATIVE, InvariantEngine, Scope
from fhir_server.validation.packages import PackageRegistry


@pytest.fixture(scope="module")
def engine(ig_registry: PackageRegistry) -> InvariantEngine:
    return InvariantEngine(ValueSetExpander(ig_registry))


PATIENT = {"resourceType": "Patient", "id": "p"}

# (key, focus, container, expected); None as container means the focus is the resource itself.
SAMPLES: list[tuple[str, Any, Any, bool]] = [
    ("dom-2", {**PATIENT, "contained": [{"resourceType": "Organization", "id": "o"}]}, None, True),
    ("dom-2", {**PATIENT, "contained": [{"resourceType": "Organization", "id": "o",
                                         "contained": [{"resourceType": "Practitioner"}]}]}, None, False),
    ("dom-4", {**PATIENT, "contained": [{"resourceType": "Organization", "meta": {"profile": ["x"]}}]}, None, True),
    ("dom-4", {**PATIENT, "contained": [{"resourceType": "Organization", "meta": {"versionId": "2"}}]}, None, False),
    ("dom-4", {**PATIENT, "contained": [{"resourceType": "Organization", "meta": {"lastUpdated": "2025-01-01"}}]},
     None, False),
    ("dom-5", {**PATIENT, "contained": [{"resourceType": "Organization", "meta": {"security": [{"code": "R"}]}}]},
     None, False),
    ("dom-5", PATIENT, None, True),
    ("dom-6", {**PATIENT, "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"/>"}},
     None, True),
    ("dom-6", PATIENT, None, False),
    ("ref-1", {"reference": "#o"}, {**PATIENT, "contained": [{"resourceType": "Organization", "id": "o"}]}, True),
    ("ref-1", {"reference": "#x"}, {**PATIENT, "contained": [{"resourceType": "Organization", "id": "o"}]}, False),
    ("ref-1", {"reference": "Organization/o"}, PATIENT, True),
    ("ref-1", {"display": "Dr Roux"}, PATIENT, True),
    ("ext-1", {"url": "http://x", "valueString": "a"}, PATIENT, True),
    ("ext-1", {"url": "http://x", "extension": [{"url": "a", "valueString": "b"}]}, PATIENT, True),
    ("ext-1", {"url": "http://x"}, PATIENT, False),
    ("ext-1", {"url": "http://x", "valueString": "a", "extension": [{"url": "a", "valueString": "b"}]}, PATIENT,
     False),
    ("rng-2", {"low": {"value": 1, "unit": "mg"}, "high": {"value": 2, "unit": "mg"}}, PATIENT, True),
    ("rng-2", {"low": {"value": 3, "system": "http://unitsofmeasure.org", "code": "mg"},
               "high": {"value": 2, "system": "http://unitsofmeasure.org", "code": "mg"}}, PATIENT, False),
    ("rng-2", {"low": {"value": 1}}, PATIENT, True),
    ("tim-9", {"frequency": 1}, PATIENT, True),
    ("tim-9", {"offset": 30, "when": ["ACM"]}, PATIENT, True),
    ("tim-9", {"offset": 30, "when": ["CM"]}, PATIENT, False),
    ("tim-9", {"offset": 30}, PATIENT, False),
    ("dom-3", {**PATIENT, "contained": [{"resourceType": "Organization", "id": "o"}],
               "managingOrganization": {"reference": "#o"}}, None, True),
    ("dom-3", {**PATIENT, "contained": [{"resourceType": "Organization", "id": "o"}]}, None, False),
    ("dom-3", {**PATIENT, "contained": [{"resourceType": "Provenance", "id": "v", "target": [{"reference": "#"}]}]},
     None, True),
]

MODEL_PATHS = {"ref-1": "Reference", "ext-1": "Extension", "rng-2": "Range", "tim-9": "Timing.repeat"}


@pytest.mark.parametrize(("key", "focus", "container", "expected"), SAMPLES,
                         ids=[f"{s[0]}-{i}" for i, s in enumerate(SAMPLES)])
def test_native_invariants(engine: InvariantEngine, key: str, focus: Any, container: Any, expected: bool) -> None:
    expression = NATIVE[key][0]
    root = container if container is not None else focus
    scope = Scope(root, root)
    model_path = MODEL_PATHS.get(key, "Patient")
    assert engine.holds(expression, focus, model_path, scope, key) is expected
    by_engine = engine.holds(expression, focus, model_path, scope)
    if isinstance(by_engine, bool):
        assert by_engine is expected, "the engine disagrees with the native version"
    else:  # the engine cannot evaluate it (why it is native): dom-3, tim-9 and rng-2 only
        assert key in ("dom-3", "tim-9", "rng-2"), by_engine


def test_natives_replace_only_the_exact_r4_expression(engine: InvariantEngine) -> None:
    scope = Scope(PATIENT, PATIENT)
    # A profile that reuses a key with another expression gets the engine, not the native code.
    assert engine.holds("gender.exists()", PATIENT, "Patient", scope, "dom-6") is False


def test_has_value_html_checks_member_of_and_resolve(engine: InvariantEngine) -> None:
    plan = {
        "resourceType": "CarePlan", "contained": [{"resourceType": "CareTeam", "id": "t"}],
        "careTeam": [{"reference": "#t"}], "subject": {"reference": "Patient/p"},
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">ok</div>'},
        "extension": [{"url": "https://oncolink.example.org/fhir/StructureDefinition/oncolink-parcours",
                       "valueCoding": {"system": "https://oncolink.example.org/fhir/CodeSystem/oncolink-parcours",
                                       "code": "B"}}],
        "status": "active",
    }
    scope = Scope(plan, plan)
    assert engine.holds("status.hasValue()", plan, "CarePlan", scope) is True
    assert engine.holds("text.htmlChecks()", plan, "CarePlan", scope) is True
    assert engine.holds("careTeam.resolve() is CareTeam", plan, "CarePlan", scope) is True
    assert engine.holds("subject.resolve() is Patient", plan, "CarePlan", scope) is True
    vs = "https://oncolink.example.org/fhir/ValueSet/oncolink-parcours"
    assert engine.holds(f"extension.value.memberOf('{vs}')", plan, "CarePlan", scope) is True
    plan["extension"][0]["valueCoding"]["code"] = "C"
    assert engine.holds(f"extension.value.memberOf('{vs}')", plan, "CarePlan", scope) is False
    unsafe = {**plan, "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">'
                                                             '<script>x()</script></div>'}}
    assert engine.holds("text.htmlChecks()", unsafe, "CarePlan", Scope(unsafe, unsafe)) is False


def test_broken_expressions_are_reported_not_ignored(engine: InvariantEngine) -> None:
    scope = Scope(PATIENT, PATIENT)
    assert str(engine.holds("'abc", PATIENT, "Patient", scope)).startswith("cannot be parsed")
    assert str(engine.holds("name.noSuchFunction()", PATIENT, "Patient", scope)).startswith("cannot be evaluated")
    assert engine.holds("name.exists()", PATIENT, "Patient", scope) is False
    assert engine.holds("name.given", {**PATIENT, "name": [{"given": ["a", "b"]}]}, "Patient", scope).startswith(
        "does not evaluate to a single boolean")


def _r4_invariants(registry: PackageRegistry) -> dict[str, tuple[str, str]]:
    """expression -> (key, model path of the element it sits on), over every R4 core definition."""
    found: dict[str, tuple[str, str]] = {}
    for definition in registry.resources("StructureDefinition"):
        if not definition.get("url", "").startswith("http://hl7.org/fhir/StructureDefinition/"):
            continue
        for element in (definition.get("snapshot") or {}).get("element", []):
            for constraint in element.get("constraint", []):
                if constraint.get("expression"):
                    found.setdefault(constraint["expression"], (constraint["key"], element["path"]))
    return found


def _nest(path: str, leaf: Any) -> dict[str, Any]:
    node: Any = leaf
    for part in reversed(path.split(".")):
        node = {part: node}
    return node


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        out[key] = _merge(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def test_direct_evaluation_agrees_with_the_engine_on_every_r4_invariant(ig_registry: PackageRegistry) -> None:
    """Every R4 invariant the direct evaluator recognises gets the engine's answer on instances where
    each path it tests is absent or present (as a value, and as a value with a `Max` sibling)."""
    import itertools
    import re

    from fhir_server.validation.invariants import _fast

    engine = InvariantEngine(ValueSetExpander(ig_registry))
    checked = 0
    for expression, (key, _element) in _r4_invariants(ig_registry).items():
        fast = _fast(expression)
        if fast is None or key in NATIVE:
            continue
        paths = sorted(set(re.findall(r"(?<![\w.'])([a-z]\w*(?:\.[a-z]\w*)*)\.(?:empty|exists)\(\)", expression)))
        for present in itertools.product((False, True), repeat=len(paths)):
            focus: dict[str, Any] = {"extension": [{"url": "http://x", "valueString": "y"}]} if "extension" not in \
                paths else {}
            for path, here in zip(paths, present, strict=True):
                if here:
                    focus = _merge(focus, _nest(path, "1"))
                    focus = _merge(focus, _nest(path + "Max", "2"))
            decided = fast(focus)
            if decided is None:
                continue
            by_engine = engine.evaluate(expression, focus, None, Scope(focus, focus))
            assert decided is by_engine, (key, expression, focus)
            checked += 1
    assert checked > 100


def _all_invariants(registry: PackageRegistry) -> dict[str, tuple[str, str, str]]:
    """expression -> (key, model path, definition url), over every R4 core and IG definition."""
    found: dict[str, tuple[str, str, str]] = {}
    for definition in registry.resources("StructureDefinition"):
        for element in (definition.get("snapshot") or {}).get("element", []):
            for constraint in element.get("constraint", []):
                if constraint.get("expression"):
                    found.setdefault(constraint["expression"], (constraint["key"], element["path"], definition["url"]))
    return found


def _build(steps: tuple[tuple[str, str], ...], leaf: Any) -> dict[str, Any]:
    """The smallest JSON where `steps` (from the direct evaluator's path parser) reach `leaf`."""
    node: Any = leaf
    for index in range(len(steps) - 1, -1, -1):
        kind, part = steps[index]
        if kind == "extension":
            node = {"extension": [{"url": part, **node}]}
        elif part == "value" and index and steps[index - 1][0] == "extension":  # Extension.value[x]
            node = {"valueCoding" if index < len(steps) - 1 else "valueString": node}
        else:
            node = {part: node}
    return node


def _assert_engine_agrees(engine: InvariantEngine, key: str, expression: str, path: str, focus: dict[str, Any],
                          decided: bool) -> None:
    by_engine = engine.evaluate(expression, focus, path, Scope(focus, focus))
    assert decided is by_engine, (key, expression, focus, by_engine)


def test_literal_guards_agree_with_the_engine_on_every_r4_and_ig_invariant(ig_registry: PackageRegistry) -> None:
    """`a contains 'x' implies …` / `a = 'x' implies …` are decided directly only when `a` is absent or
    holds other values, and the engine then agrees; the profiles' own conditional rules are among them."""
    from fhir_server.validation.invariants import _ALL_EXIST, _GUARD_LITERAL, _fast, _steps

    engine = InvariantEngine(ValueSetExpander(ig_registry))
    checked, ig_checked = 0, 0
    for expression, (key, path, url) in _all_invariants(ig_registry).items():
        match = _GUARD_LITERAL.match(expression)
        if match is None or key in NATIVE:
            continue
        fast, steps, literal = _fast(expression), _steps(match.group(1)), match.group(2)
        assert fast is not None
        root = {"resourceType": path} if "." not in path else {}
        then = _ALL_EXIST.match(expression[match.end():])
        required = [_steps(p.removesuffix(".exists()")) for p in then.group(1).split(" and ")] if then else []
        focuses = [root, {**root, **_build(steps, "another-value")}]
        holding = _concat(root, _build(steps, literal))
        focuses += [holding] + [_concat(holding, *(_build(r, _leaf(r)) for r in required[:n]))
                                for n in range(1, len(required) + 1)]
        for focus in focuses:
            decided = fast(focus)
            if decided is None:
                assert focus is holding and not required, (key, expression)  # the engine decides
                continue
            _assert_engine_agrees(engine, key, expression, path, focus, decided)
            checked += 1
            ig_checked += not url.startswith("http://hl7.org/fhir/")
    assert checked > 10 and ig_checked >= 8


def _leaf(steps: tuple[tuple[str, str], ...]) -> Any:
    return {"valueString": "x"} if steps[-1][0] == "extension" else "x"


def _concat(*parts: dict[str, Any]) -> dict[str, Any]:
    """Deep merge where lists are concatenated (two extensions on one element)."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(out.get(key), list) and isinstance(value, list):
                out[key] = out[key] + value
            elif isinstance(out.get(key), dict) and isinstance(value, dict):
                out[key] = _concat(out[key], value)
            else:
                out[key] = value
    return out


@pytest.mark.parametrize(("start", "end"), [
    ("2026-11-02", "2026-12-01"), ("2026-12-01", "2026-11-02"), ("2026-11-02", "2026-11-02"), ("2026-11", "2026-12"),
    ("2026-11-02T10:00:00+01:00", "2026-11-02T09:00:00+01:00"), ("2026-11-02T10:00:00Z", "2026-11-02T11:00:00Z"),
    ("2026-11-02T10:00:00.5Z", "2026-11-02T10:00:00.25Z"), ("2026-11-02T10:00:00+01:00", "2026-11-02T09:30:00Z"),
    ("2026-11-02", "2026-11-01T10:00:00Z"), ("2026-11", "2026-10-15"), (None, "2026-11-01"), ("2026-11-01", None),
])
def test_period_order_agrees_with_the_engine(engine: InvariantEngine, start: str | None, end: str | None) -> None:
    """per-1 is decided directly on same-precision, same-zone bounds; any other pair goes to the engine."""
    from fhir_server.validation.invariants import _PERIOD_ORDER, _fast

    focus = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    fast = _fast(_PERIOD_ORDER)
    assert fast is not None
    decided = fast(focus)
    by_engine = engine.evaluate(_PERIOD_ORDER, focus, "Period", Scope(focus, focus))
    if decided is not None:
        assert decided is by_engine, (focus, by_engine)
    assert engine.holds(_PERIOD_ORDER, focus, "Period", Scope(focus, focus)) == by_engine
    if (start, end) == ("2026-12-01", "2026-11-02"):
        assert decided is False


def _items_at(steps: tuple[tuple[str, str], ...], items: list[Any]) -> dict[str, Any]:
    """The smallest JSON where `steps` reach the list `items` (extensions carry their url)."""
    *outer, (kind, part) = steps
    node = {"extension": [{"url": part, **item} for item in items]} if kind == "extension" else {part: items}
    return _build(tuple(outer), node) if outer else node


def _test_cases(expression: str) -> list[dict[str, Any]] | None:
    """Instances for a test on values (`a contains 'x'`, `a.all(b.startsWith('x'))`, `a.all(b = 0)`):
    nothing there, the literal alone, another value alone, both, a value of another type."""
    from fhir_server.validation.invariants import _ALL_EQUAL_INTEGER, _ALL_STARTS_WITH, _CONTAINS, _steps

    if m := _CONTAINS.match(expression):
        steps, literal = _steps(m.group(1)), m.group(2)
        return [{}, *(_items_at(steps, leaves) for leaves in ([literal], ["another"], ["another", literal], [1]))]
    m = _ALL_STARTS_WITH.match(expression) or _ALL_EQUAL_INTEGER.match(expression)
    if m is None:
        return None
    items_at, inner, literal = _steps(m.group(1)), _steps(m.group(2)), m.group(3)
    yes, no = (literal + "x", "other") if expression.endswith("'))") else (int(literal), int(literal) + 1)

    def item(leaf: Any) -> dict[str, Any]:
        if inner == (("name", "value"),):
            return {"valueInteger" if isinstance(leaf, int) else "valueString": leaf}
        return _build(inner, leaf)
    leaves: list[list[Any]] = [[yes], [no], [yes, no], [yes, yes], [str(yes) if isinstance(yes, int) else 1]]
    return [{}, *(_items_at(items_at, [item(v) for v in values]) for values in leaves)]


def test_value_tests_agree_with_the_engine_on_every_r4_and_ig_invariant(ig_registry: PackageRegistry) -> None:
    """`a contains 'x'`, `a.all(b.startsWith('x'))` and `a.all(b = 0)`, alone or after a literal guard
    the instance satisfies, are decided directly only when the values compared have the literal's type,
    and the engine then agrees; the profiles' own rules are among them."""
    from fhir_server.validation.invariants import _GUARD_LITERAL, _fast, _steps

    engine = InvariantEngine(ValueSetExpander(ig_registry))
    checked, ig_checked = 0, 0
    for expression, (key, path, url) in _all_invariants(ig_registry).items():
        if key in NATIVE:
            continue
        root = {"resourceType": path} if "." not in path else {}
        guard = _GUARD_LITERAL.match(expression)
        cases = _test_cases(expression[guard.end():] if guard else expression)
        if cases is None:
            continue
        holding = _build(_steps(guard.group(1)), guard.group(2)) if guard else {}
        fast = _fast(expression)
        assert fast is not None, expression
        for case in cases:
            focus = _concat(root, holding, case)
            decided = fast(focus)
            if decided is None:
                continue
            _assert_engine_agrees(engine, key, expression, path, focus, decided)
            checked += 1
            ig_checked += not url.startswith("http://hl7.org/fhir/")
    assert checked > 10 and ig_checked >= 8
