"""Fixed and pattern values, and the small path language of slicing discriminators.

`fixed[x]` asks for exactly the given value; `pattern[x]` for at least it: every property of the
pattern must be present with a matching value, and every item of a pattern array must be matched by
some item of the instance array. JSON numbers are compared by value, so 1.50 matches 1.5.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

# The FHIR R4 data types, capitalised as they end choice element names (`valueQuantity`): a key is a
# choice element's value only when its suffix is one of them (`periodMax` is not `period[x]`).
CHOICE_SUFFIXES = frozenset({
    "Base64Binary", "Boolean", "Canonical", "Code", "Date", "DateTime", "Decimal", "Id", "Instant", "Integer",
    "Markdown", "Oid", "PositiveInt", "String", "Time", "UnsignedInt", "Uri", "Url", "Uuid", "Address", "Age",
    "Annotation", "Attachment", "CodeableConcept", "Coding", "ContactPoint", "Count", "Distance", "Duration",
    "HumanName", "Identifier", "Money", "Period", "Quantity", "Range", "Ratio", "Reference", "SampledData",
    "Signature", "Timing", "ContactDetail", "Contributor", "DataRequirement", "Expression", "ParameterDefinition",
    "RelatedArtifact", "TriggerDefinition", "UsageContext", "Dosage", "Meta",
})


def choice_value(item: dict[str, Any], name: str) -> Any:
    """The value of choice element `name` (`value` -> `valueString`…) in a JSON object, or None."""
    for key, candidate in item.items():
        if key.startswith(name) and key[len(name):] in CHOICE_SUFFIXES:
            return candidate
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def equals_fixed(instance: Any, fixed: Any) -> bool:
    if _number(fixed) and _number(instance):
        return Decimal(str(instance)) == Decimal(str(fixed))
    if isinstance(fixed, dict):
        return (
            isinstance(instance, dict)
            and instance.keys() == fixed.keys()
            and all(equals_fixed(instance[k], v) for k, v in fixed.items())
        )
    if isinstance(fixed, list):
        return (
            isinstance(instance, list)
            and len(instance) == len(fixed)
            and all(equals_fixed(a, b) for a, b in zip(instance, fixed, strict=True))
        )
    return type(instance) is type(fixed) and instance == fixed


def matches_pattern(instance: Any, pattern: Any) -> bool:
    if _number(pattern) and _number(instance):
        return Decimal(str(instance)) == Decimal(str(pattern))
    if isinstance(pattern, dict):
        if not isinstance(instance, dict):
            return False
        for key, expected in pattern.items():
            if key not in instance or not matches_pattern(instance[key], expected):
                return False
        return True
    if isinstance(pattern, list):
        if not isinstance(instance, list):
            return False
        return all(any(matches_pattern(item, expected) for item in instance) for expected in pattern)
    return type(instance) is type(pattern) and instance == pattern


def split_path(path: str) -> list[str]:
    """`extension('http://x.org/a.b').value` -> ["extension('http://x.org/a.b')", "value"]: dots
    inside quotes or parentheses do not split."""
    parts: list[str] = []
    depth = 0
    quoted = False
    current = []
    for char in path:
        if char == "'" and depth:
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == "." and not depth and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p]


def step_values(values: list[Any], segment: str) -> list[Any]:
    """The JSON values one discriminator path step reaches from `values` (lists are flattened).
    `resolve()` is handled by the caller, which knows contained resources and Bundle entries."""
    if segment == "$this":
        return values
    out: list[Any] = []
    if segment.startswith("extension(") and segment.endswith(")"):
        url = segment[len("extension(") : -1].strip().strip("'\"")
        for value in values:
            if isinstance(value, dict):
                out.extend(e for e in value.get("extension") or [] if isinstance(e, dict) and e.get("url") == url)
        return out
    if segment.startswith("ofType(") and segment.endswith(")"):
        wanted = segment[len("ofType(") : -1].strip()
        return [v for v in values if isinstance(v, dict) and v.get("resourceType", wanted) == wanted]
    for value in values:
        if not isinstance(value, dict):
            continue
        found = value.get(segment)
        if found is None:
            found = choice_value(value, segment)  # `value` for `valueCoding`
        if found is None:
            continue
        if isinstance(found, list):
            out.extend(found)
        else:
            out.append(found)
    return out
