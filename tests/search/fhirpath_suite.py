"""The official FHIRPath R4 test suite, run against the FHIRPath engine as the server wraps it
(`fhir_server.search.fhirpath.compile_expression`). Used by the floor test and `bench/search_fhirpath.py`.

A test passes when the engine raises for an expression the suite marks invalid, or returns exactly
the expected outputs (in order unless `ordered="false"`; as one boolean for `predicate="true"`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import orjson

from fhir_server.formats.xml_json import fhir_xml_to_json
from fhir_server.search.fhirpath import compile_expression
from fhir_server.validation.packages import PackageRegistry

SUITE_DIR = Path(__file__).resolve().parents[3] / "shared" / "fhir" / "test-cases" / "r4"
SUITE = SUITE_DIR / "fhirpath" / "tests-fhir-r4.xml"


@dataclass
class Case:
    group: str
    name: str
    expression: str
    inputfile: str | None
    invalid: bool
    predicate: bool
    ordered: bool
    outputs: list[tuple[str, str]]


@dataclass
class Outcome:
    case: Case
    passed: bool
    detail: str


def cases() -> Iterator[Case]:
    root = ET.parse(SUITE).getroot()
    for group in root.iter("group"):
        for test in group.iter("test"):
            expression = test.find("expression")
            if expression is None:
                continue
            yield Case(
                group=group.get("name", ""),
                name=test.get("name", ""),
                expression=expression.text or "",
                inputfile=test.get("inputfile"),
                invalid=expression.get("invalid") is not None,
                predicate=test.get("predicate") == "true",
                ordered=test.get("ordered") != "false",
                outputs=[(o.get("type", ""), o.text or "") for o in test.findall("output")],
            )


def load_inputs(registry: PackageRegistry) -> dict[str, dict[str, Any]]:
    inputs = {}
    for path in SUITE_DIR.iterdir():
        if path.suffix == ".json":
            inputs[path.name] = orjson.loads(path.read_bytes())
        elif path.suffix == ".xml":
            inputs[path.name] = fhir_xml_to_json(path.read_bytes(), registry)
    return inputs


@dataclass(frozen=True)
class Untyped:
    """An output without a type attribute: a FHIRPath literal, compared as printed."""

    text: str


def _expected(type_name: str, text: str) -> Any:
    if not type_name:
        return Untyped(text.strip())
    if type_name == "boolean":
        return text == "true"
    if type_name == "integer":
        return int(text)
    if type_name == "decimal":
        return Decimal(text)
    if type_name in ("date", "dateTime", "time"):
        return text.lstrip("@")
    if type_name == "Quantity":
        value, _, unit = text.partition(" ")
        return ("Quantity", Decimal(value), unit.strip("'"))
    return text


def _actual(type_name: str, value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return Decimal(str(value)) if isinstance(value, float) else value
    if type_name == "Quantity" and isinstance(value, dict):
        try:
            return ("Quantity", Decimal(str(value.get("value"))), value.get("code") or value.get("unit"))
        except InvalidOperation:
            return value
    if isinstance(value, str) and type_name in ("date", "dateTime", "time", "instant"):
        return value.lstrip("@")
    return value


def _literal(actual: Any) -> str | None:
    """How an untyped expected output (a FHIRPath literal) would print the actual value."""
    if isinstance(actual, Decimal) or (isinstance(actual, int) and not isinstance(actual, bool)):
        return str(actual)
    if isinstance(actual, tuple) and actual and actual[0] == "Quantity":
        return f"{actual[1]} '{actual[2]}'"
    if isinstance(actual, str):
        return actual
    return None


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Untyped):
        printed = _literal(actual)
        return printed is not None and printed in (expected.text, expected.text.lstrip("@").lstrip("T"),
                                                   expected.text.lstrip("@"))
    if isinstance(expected, Decimal) and isinstance(actual, int | Decimal) and not isinstance(actual, bool):
        return Decimal(actual) == expected
    if isinstance(expected, int) and not isinstance(expected, bool) and isinstance(actual, Decimal):
        return actual == expected
    return bool(expected == actual and type(expected) is type(actual)) or (
        isinstance(expected, str) and isinstance(actual, str) and expected == actual)


def run_case(case: Case, inputs: dict[str, dict[str, Any]]) -> Outcome:
    resource = inputs.get(case.inputfile or "", {}) if case.inputfile else {}
    try:
        evaluate = compile_expression(case.expression, resource.get("resourceType"))
        result = evaluate(orjson.loads(orjson.dumps(resource)))
    except Exception as exc:  # noqa: BLE001 - any engine failure is an outcome to record
        return Outcome(case, case.invalid, f"raised {type(exc).__name__}: {exc}"[:200])
    if case.invalid:
        return Outcome(case, False, f"expected an error, got {result!r}"[:200])
    actual = [_actual(t, v) for t, v in result]
    if case.predicate:
        actual = [bool(actual)]
    expected = [_expected(t, text) for t, text in case.outputs]
    if len(actual) != len(expected):
        return Outcome(case, False, f"expected {expected!r}, got {actual!r}"[:200])
    if case.ordered:
        ok = all(_same(e, a) for e, a in zip(expected, actual, strict=True))
    else:
        remaining = list(actual)
        ok = True
        for e in expected:
            match = next((i for i, a in enumerate(remaining) if _same(e, a)), None)
            if match is None:
                ok = False
                break
            remaining.pop(match)
    return Outcome(case, ok, "" if ok else f"expected {expected!r}, got {actual!r}"[:200])


def run(registry: PackageRegistry) -> list[Outcome]:
    inputs = load_inputs(registry)
    return [run_case(case, inputs) for case in cases()]
