"""The `value` of a FHIRPath Patch operation: read from the Parameters, then turned into the JSON
of the element it will become.

Reading happens before anything is applied and only checks the Parameters themselves (a 400 when
they are malformed). Materialising happens against the target element's definition: the value's
type must fit the element (a 422 otherwise), a choice element takes the name of the value's type
(`value` + Quantity → `valueQuantity`), and nested `part`s, the spec's way to give anonymous types
such as `Patient.contact`, are built into a JSON object using the element's own definition, so
that repeating children become arrays.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fhir_server.errors import BadRequest, FhirError
from fhir_server.formats.structure import (
    JSON_BOOLEAN_TYPES,
    JSON_INTEGER_TYPES,
    Child,
    Context,
    Kind,
    StructureModel,
)
from fhir_server.patch.elements import insert_element, set_element

_PARAMETER = Context("Parameters", "Parameters.parameter")
_PART_META = frozenset({"name", "id", "extension", "modifierExtension"})

Fail = Callable[[str], FhirError]


@dataclass(frozen=True, slots=True)
class PatchValue:
    """A value as given: typed (`valueDate`), a resource, or nested parts (`parts`)."""

    expression: str
    type_code: str | None = None  # FHIR type of value[x]; "Resource" for a resource
    json: Any = None
    extra: dict[str, Any] | None = None  # the `_valueX` companion of a primitive
    parts: tuple[tuple[str, PatchValue], ...] | None = None


def _json_kind_ok(type_code: str, value: Any) -> bool:
    if type_code in JSON_BOOLEAN_TYPES:
        return isinstance(value, bool)
    if type_code in JSON_INTEGER_TYPES:
        return isinstance(value, int) and not isinstance(value, bool)
    if type_code == "decimal":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


def read_value(model: StructureModel, part: dict[str, Any], expression: str) -> PatchValue:
    """Read the value carried by a Parameters part; raises BadRequest when it is malformed."""
    value_keys = [k for k in part if k.startswith("value") and k != "value"]
    carriers = value_keys + [k for k in ("resource", "part") if k in part]
    unknown = [k for k in part if k not in _PART_META and k not in carriers and k.lstrip("_") not in value_keys]
    if unknown:
        raise BadRequest(f"{expression}: unexpected property {unknown[0]!r}", expression=(expression,))
    if not carriers:
        raise BadRequest(f"{expression}: a value (value[x], resource or part) is required", expression=(expression,))
    if len(carriers) > 1:
        raise BadRequest(
            f"{expression}: give exactly one of value[x], resource or part, not {', '.join(carriers)}",
            expression=(expression,),
        )
    carrier = carriers[0]
    if carrier == "resource":
        resource = part["resource"]
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise BadRequest(f"{expression}.resource: must be a resource", expression=(f"{expression}.resource",))
        return PatchValue(expression, "Resource", resource)
    if carrier == "part":
        return PatchValue(expression, parts=_read_parts(model, part["part"], f"{expression}.part"))
    child = model.children(_PARAMETER).by_name.get(carrier)
    if child is None or child.base_name != "value":
        raise BadRequest(
            f"{expression}: {carrier!r} is not a FHIR value[x] type", expression=(f"{expression}.{carrier}",)
        )
    raw = part[carrier]
    if child.kind is Kind.PRIMITIVE and not _json_kind_ok(child.type_code, raw):
        raise BadRequest(
            f"{expression}.{carrier}: {raw!r} is not a valid JSON {child.type_code}",
            expression=(f"{expression}.{carrier}",),
        )
    if child.kind is Kind.COMPLEX and not isinstance(raw, dict):
        raise BadRequest(f"{expression}.{carrier}: must be a JSON object", expression=(f"{expression}.{carrier}",))
    extra = part.get("_" + carrier)
    if extra is not None and not isinstance(extra, dict):
        raise BadRequest(f"{expression}._{carrier}: must be a JSON object", expression=(f"{expression}._{carrier}",))
    return PatchValue(expression, child.type_code, raw, extra)


def _read_parts(model: StructureModel, parts: Any, expression: str) -> tuple[tuple[str, PatchValue], ...]:
    if not isinstance(parts, list) or not parts:
        raise BadRequest(f"{expression}: must be a non-empty list of parts", expression=(expression,))
    out = []
    for j, part in enumerate(parts):
        where = f"{expression}[{j}]"
        if not isinstance(part, dict) or not isinstance(part.get("name"), str) or not part["name"]:
            raise BadRequest(f"{where}: each part needs a name", expression=(f"{where}.name",))
        out.append((part["name"], read_value(model, part, where)))
    return tuple(out)


def _fits(model: StructureModel, target: Child, value: PatchValue) -> bool:
    code = value.type_code
    if code is None:
        return target.kind is Kind.COMPLEX and target.context is not None
    if code == "Resource":
        return target.kind is Kind.RESOURCE
    if target.kind is Kind.PRIMITIVE:
        # Same JSON form is enough (a `string` value for a `code` element); formats are checked by
        # validation of the patched resource.
        return code[0].islower() and _json_kind_ok(target.type_code, value.json)
    if target.kind is Kind.XHTML:
        return code[0].islower() and isinstance(value.json, str)
    if target.kind is Kind.COMPLEX and not code[0].islower():
        target_code = target.type_code
        return code == target_code or model.derives_from(code, target_code) or model.derives_from(target_code, code)
    return False


def _describe(candidates: list[Child]) -> str:
    return ", ".join(sorted({c.type_code for c in candidates}))


def materialize(
    model: StructureModel, value: PatchValue, candidates: list[Child], fail: Fail
) -> tuple[Child, Any, dict[str, Any] | None]:
    """Choose the element form the value fits and build its JSON (value, `_name` extras)."""
    exact = [c for c in candidates if value.type_code is not None and c.type_code == value.type_code]
    fitting = exact or [c for c in candidates if _fits(model, c, value)]
    if not fitting:
        given = value.type_code or "nested parts"
        path = candidates[0].path if candidates else "?"
        raise fail(f"a {given} value does not fit {path} (expects {_describe(candidates)})")
    chosen = fitting[0]
    if value.parts is not None:
        assert chosen.context is not None  # guaranteed by _fits
        return chosen, build_object(model, value.parts, chosen.context, fail), None
    return chosen, copy.deepcopy(value.json), copy.deepcopy(value.extra)


def build_object(
    model: StructureModel, parts: tuple[tuple[str, PatchValue], ...], context: Context, fail: Fail
) -> dict[str, Any]:
    """JSON object for an anonymous type given as parts, child by child."""
    children = model.children(context)
    out: dict[str, Any] = {}
    for name, value in parts:
        candidates = children.element(name)
        if not candidates and name in children.by_name:
            candidates = [children.by_name[name]]
        if not candidates:
            raise fail(f"{context.path} has no element {name!r}")
        chosen, json, extra = materialize(model, value, candidates, fail)
        key = chosen.name
        if chosen.repeats:
            existing = out.get(key)
            position = len(existing) if isinstance(existing, list) else 0
            extras = out.get("_" + key)
            position = max(position, len(extras) if isinstance(extras, list) else 0)
            insert_element(out, key, position, json, extra)
            continue
        present = [c.name for c in candidates if c.name in out or "_" + c.name in out]
        if present:
            raise fail(f"{context.path}.{chosen.base_name} given more than once")
        set_element(out, key, None, json, extra)
    return out
