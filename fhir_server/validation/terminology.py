"""Binding checks on coded values, and codes against the code systems we hold.

Strengths: `required` makes a code outside the ValueSet an error, `extensible` a warning; weaker
strengths are not checked. When a code's system cannot be enumerated here (ATC, SNOMED CT…), or the
ValueSet itself is missing, the result is a warning that says so: never a silent pass, never a false
error.
"""

from __future__ import annotations

from typing import Any

from ..errors import Issue
from .bindings import ValueSetExpander
from .model import Binding

_CODED_STRINGS = frozenset({"code", "string", "uri", "url", "canonical"})
_SHOWN = 8
_DEFINED_TYPES = "http://hl7.org/fhir/ValueSet/defined-types"
_SYSTEM_TYPES = "http://hl7.org/fhirpath/System."


def codings_of(value: Any, type_code: str) -> list[tuple[str | None, str]] | None:
    """The (system, code) pairs of a coded value; None when the type is not bindable."""
    if type_code in _CODED_STRINGS:
        return [(None, value)] if isinstance(value, str) else []
    if not isinstance(value, dict):
        return None
    if type_code == "Coding" or type_code == "Quantity":
        code = value.get("code")
        return [(value.get("system"), code)] if isinstance(code, str) else []
    if type_code == "CodeableConcept":
        return [
            (c.get("system"), c["code"])
            for c in value.get("coding") or []
            if isinstance(c, dict) and isinstance(c.get("code"), str)
        ]
    return None


def _shown(pairs: list[tuple[str | None, str]]) -> str:
    return ", ".join(f"{s}|{c}" if s else repr(c) for s, c in pairs[:_SHOWN])


def check_binding(
    value_sets: ValueSetExpander, binding: Binding, value: Any, type_code: str, where: str
) -> Issue | None:
    pairs = codings_of(value, type_code)
    if pairs is None:
        return None
    if binding.value_set.startswith(_DEFINED_TYPES) and isinstance(value, str) and value.startswith(_SYSTEM_TYPES):
        return None  # R4 snapshots type some elements with FHIRPath system types, which that value set omits
    strength = binding.strength
    value_set = binding.value_set
    if not pairs:
        if strength == "required" and type_code == "CodeableConcept":
            return Issue(
                "error", "code-invalid", f"{where}: a code from the required value set {value_set} is needed", (where,)
            )
        return None
    expansion = value_sets.expansion(value_set)
    if expansion is None:
        return Issue(
            "warning",
            "code-invalid",
            f"{where}: cannot check {_shown(pairs)} against {value_set}: that value set is not available here",
            (where,),
        )
    results = [expansion.contains(system, code) for system, code in pairs]
    if any(r is True for r in results):
        return None
    if all(r is False for r in results):
        if strength == "required":
            return Issue(
                "error", "code-invalid", f"{where}: {_shown(pairs)} is not in the required value set {value_set}",
                (where,),
            )
        return Issue(
            "warning", "code-invalid", f"{where}: {_shown(pairs)} is not in the extensible value set {value_set}",
            (where,),
        )
    reasons = sorted({expansion.unknown[s] for (s, _), r in zip(pairs, results, strict=True) if r is None and s})
    reason = "; ".join(reasons) or "its code system is not available here"
    return Issue(
        "warning", "code-invalid", f"{where}: cannot check {_shown(pairs)} against {value_set}: {reason}", (where,)
    )


def check_coding(value_sets: ValueSetExpander, coding: dict[str, Any], where: str) -> Issue | None:
    """A code of a complete code system we hold must be one of its codes."""
    system, code = coding.get("system"), coding.get("code")
    if not isinstance(system, str) or not isinstance(code, str):
        return None
    codes = value_sets.code_system_codes(system)
    if codes is None or code in codes:
        return None
    return Issue("error", "code-invalid", f"{where}: '{code}' is not a code of the code system {system}", (where,))
