"""FHIRPath Patch (http://hl7.org/fhir/R4/fhirpatch.html): a Parameters resource whose `operation`
parameters add, insert, delete, replace or move elements selected by FHIRPath.

The Parameters are read completely first, so a malformed patch is a 400 whatever its position; the
operations then run in order on a deep copy, and the first that cannot apply to this resource stops
the patch with a 422 naming it (`Parameters.parameter[i]`), leaving the caller's resource untouched.
Element definitions come from the StructureDefinitions because JSON alone cannot say whether `add`
must create an array, or which name a choice value takes.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from fhir_server.errors import BadRequest, FhirError, Unprocessable
from fhir_server.formats.structure import Child, Kind, StructureModel, structure_model
from fhir_server.patch.elements import (
    Step,
    holder_for,
    insert_element,
    prune,
    remove_element,
    set_element,
)
from fhir_server.patch.locate import FhirPathSyntaxError, LocateError, Location, compile_path, evaluate
from fhir_server.patch.values import PatchValue, materialize, read_value
from fhir_server.validation.packages import PackageRegistry

OPERATION_TYPES = ("add", "insert", "delete", "replace", "move")
_REQUIRED = {
    "add": ("path", "name", "value"),
    "insert": ("path", "index", "value"),
    "delete": ("path",),
    "replace": ("path", "value"),
    "move": ("path", "source", "destination"),
}
_PART_NAMES = ("type", "path", "name", "value", "index", "source", "destination")
_ELEMENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_LAST_MEMBER = re.compile(r"^(.*)\.([A-Za-z][A-Za-z0-9]*)$", re.S)


@dataclass(frozen=True, slots=True)
class Operation:
    number: int
    type: str
    path: str
    name: str | None = None
    value: PatchValue | None = None
    index: int | None = None
    source: int | None = None
    destination: int | None = None

    @property
    def where(self) -> str:
        return f"Parameters.parameter[{self.number}]"

    def fail(self, message: str) -> Unprocessable:
        return Unprocessable(
            f"{self.where} ({self.type} at {self.path}): {message}", code="processing", expression=(self.where,)
        )


# -- reading the Parameters -------------------------------------------------------------------------


def _bad(message: str, expression: str) -> BadRequest:
    return BadRequest(f"{expression}: {message}", expression=(expression,))


def _string_part(part: dict[str, Any], where: str, *keys: str) -> str:
    for key in keys:
        if key in part:
            value = part[key]
            if isinstance(value, str) and value:
                return value
            raise _bad(f"{key} must be a non-empty string", f"{where}.{key}")
    raise _bad(f"expected {' or '.join(keys)}", where)


def _integer_part(part: dict[str, Any], where: str) -> int:
    value = part.get("valueInteger")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad("expected valueInteger", where)
    if value < 0:
        raise _bad(f"must not be negative, got {value}", f"{where}.valueInteger")
    return value


def _read_operation(model: StructureModel, parameter: Any, number: int) -> Operation:
    where = f"Parameters.parameter[{number}]"
    if not isinstance(parameter, dict):
        raise _bad("must be a JSON object", where)
    if parameter.get("name") != "operation":
        raise _bad(
            f"FHIRPath Patch parameters must be named 'operation', got {parameter.get('name')!r}", f"{where}.name"
        )
    parts = parameter.get("part")
    if not isinstance(parts, list):
        raise _bad("an operation needs parts (type, path, ...)", where)
    by_name: dict[str, tuple[dict[str, Any], str]] = {}
    for j, part in enumerate(parts):
        part_where = f"{where}.part[{j}]"
        if not isinstance(part, dict) or not isinstance(part.get("name"), str):
            raise _bad("each part needs a name", f"{part_where}.name")
        name = part["name"]
        if name not in _PART_NAMES:
            raise _bad(f"unknown part {name!r} (expected one of {', '.join(_PART_NAMES)})", f"{part_where}.name")
        if name in by_name:
            raise _bad(f"part {name!r} is given more than once", part_where)
        by_name[name] = (part, part_where)

    if "type" not in by_name:
        raise _bad("the 'type' part is missing", where)
    part, part_where = by_name["type"]
    op_type = _string_part(part, part_where, "valueCode", "valueString")
    if op_type not in OPERATION_TYPES:
        raise _bad(f"unknown operation type {op_type!r} (expected one of {', '.join(OPERATION_TYPES)})", part_where)
    for needed in _REQUIRED[op_type]:
        if needed not in by_name:
            raise _bad(f"a {op_type!r} operation needs a {needed!r} part", where)
    for given in by_name:
        if given != "type" and given not in _REQUIRED[op_type]:
            raise _bad(f"a {op_type!r} operation takes no {given!r} part", by_name[given][1])

    part, part_where = by_name["path"]
    path = _string_part(part, part_where, "valueString")
    try:
        compile_path(path)
    except FhirPathSyntaxError as exc:
        raise _bad(f"invalid FHIRPath {path!r}: {exc}", f"{part_where}.valueString") from exc

    fields: dict[str, Any] = {}
    if "name" in by_name:
        part, part_where = by_name["name"]
        name = _string_part(part, part_where, "valueString")
        if not _ELEMENT_NAME.fullmatch(name):
            raise _bad(f"{name!r} is not an element name", f"{part_where}.valueString")
        fields["name"] = name
    if "value" in by_name:
        part, part_where = by_name["value"]
        fields["value"] = read_value(model, part, part_where)
    for key in ("index", "source", "destination"):
        if key in by_name:
            part, part_where = by_name[key]
            fields[key] = _integer_part(part, part_where)
    return Operation(number, op_type, path, **fields)


def read_operations(model: StructureModel, parameters: object) -> list[Operation]:
    """All operations of a FHIRPath Patch, or BadRequest for the first malformed part."""
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise BadRequest("a FHIRPath Patch must be a Parameters resource", expression=("Parameters",))
    items = parameters.get("parameter", [])
    if not isinstance(items, list):
        raise _bad("must be a list", "Parameters.parameter")
    return [_read_operation(model, item, number) for number, item in enumerate(items)]


# -- applying ---------------------------------------------------------------------------------------


def _select(model: StructureModel, doc: dict[str, Any], op: Operation) -> list[Location]:
    try:
        return evaluate(model, doc, op.path)
    except LocateError as exc:
        raise op.fail(str(exc)) from exc
    except FhirError:
        raise
    except Exception as exc:  # fhirpathpy reports evaluation failures as bare Exceptions
        raise op.fail(f"cannot evaluate the path: {exc}") from exc


def _single(model: StructureModel, doc: dict[str, Any], op: Operation, verb: str) -> Location:
    found = _select(model, doc, op)
    if not found:
        raise op.fail(f"No content found at {op.path} when {verb}")
    if len(found) > 1:
        raise op.fail(f"the path selects {len(found)} elements; it must select exactly one")
    return found[0]


def _add(model: StructureModel, doc: dict[str, Any], op: Operation) -> None:
    assert op.name is not None and op.value is not None
    container = _single(model, doc, op, "adding")
    target_is_primitive = container.child is not None and container.child.kind is Kind.PRIMITIVE
    if not target_is_primitive and not isinstance(container.value(doc), dict):
        raise op.fail("the path must select an element that can contain other elements")
    if container.context is None:
        raise op.fail("no definition is known for the selected element")
    children = model.children(container.context)
    candidates = children.element(op.name) or ([children.by_name[op.name]] if op.name in children.by_name else [])
    if not candidates:
        raise op.fail(f"{container.context.path} has no element {op.name!r}")
    chosen, json, extra = materialize(model, op.value, candidates, op.fail)
    owner = holder_for(container.step) if target_is_primitive else container.value(doc)
    if chosen.repeats:
        length = max(len(owner.get(chosen.name) or ()), len(owner.get("_" + chosen.name) or ()))
        insert_element(owner, chosen.name, length, json, extra)
        return
    forms = children.element(chosen.base_name) if chosen.choice else [chosen]
    if any(c.name in owner or "_" + c.name in owner for c in forms):
        raise op.fail(f"{op.name!r} already has a value; use replace")
    set_element(owner, chosen.name, None, json, extra)


def _list_of(model: StructureModel, doc: dict[str, Any], op: Operation) -> tuple[dict[str, Any], str, Child]:
    """The repeating element a path designates (for insert and move), even when it is empty."""
    found = _select(model, doc, op)
    if len(found) == 1 and found[0].child is not None and not found[0].child.repeats:
        raise op.fail(f"{found[0].child.path} is not a list (max 1); use add or replace")
    if found:
        steps = [loc.step for loc in found if loc.steps]
        first = steps[0] if steps else None
        if (
            first is None
            or len(steps) != len(found)
            or any(s.owner is not first.owner or s.key != first.key or s.index is None for s in steps)
        ):
            raise op.fail("the path must select the items of one list")
        length = _length(first.owner, first.key)
        if sorted(s.index for s in steps if s.index is not None) != list(range(length)):
            raise op.fail("the path must select a whole list, not some of its items")
        child = found[0].child
        if child is None:
            raise op.fail("no definition is known for the selected list")
        return first.owner, first.key, child
    match = _LAST_MEMBER.match(op.path)
    if match is None:
        raise op.fail(f"No content found at {op.path}")
    # An empty list selects nothing: find its container instead.
    container_op = Operation(op.number, op.type, match.group(1))
    container = _single(model, doc, container_op, "looking for the list")
    value = container.value(doc)
    if not isinstance(value, dict) or container.context is None:
        raise op.fail(f"{match.group(1)} cannot contain a list")
    children = model.children(container.context)
    child = children.by_name.get(match.group(2))
    if child is None or child.choice:
        raise op.fail(f"{container.context.path} has no element {match.group(2)!r}")
    return value, child.name, child


def _length(owner: dict[str, Any], key: str) -> int:
    values, extras = owner.get(key), owner.get("_" + key)
    return max(len(values) if isinstance(values, list) else 0, len(extras) if isinstance(extras, list) else 0)


def _insert(model: StructureModel, doc: dict[str, Any], op: Operation) -> None:
    assert op.value is not None and op.index is not None
    owner, key, child = _list_of(model, doc, op)
    if not child.repeats:
        raise op.fail(f"{child.path} is not a list (max 1); use add or replace")
    length = _length(owner, key)
    if op.index > length:
        raise op.fail(f"index {op.index} is out of range: the list has {length} items")
    _, json, extra = materialize(model, op.value, [child], op.fail)
    insert_element(owner, key, op.index, json, extra)


def _move(model: StructureModel, doc: dict[str, Any], op: Operation) -> None:
    assert op.source is not None and op.destination is not None
    owner, key, child = _list_of(model, doc, op)
    length = _length(owner, key)
    for label, position in (("source", op.source), ("destination", op.destination)):
        if position >= length:
            raise op.fail(f"{label} {position} is out of range: the list has {length} items")
    value, extra = remove_element(owner, key, op.source)
    insert_element(owner, key, op.destination, value, extra)


def _delete(model: StructureModel, doc: dict[str, Any], op: Operation) -> None:
    found = _select(model, doc, op)
    if not found:
        return  # deleting what is not there leaves the resource as it is
    if len(found) > 1:
        raise op.fail(f"the path selects {len(found)} elements; delete removes exactly one")
    location = found[0]
    if location.is_root:
        raise op.fail("cannot delete the resource itself")
    remove_element(location.step.owner, location.step.key, location.step.index)
    prune(list(location.steps))


def _rename_in_place(owner: dict[str, Any], old: str, new: str) -> None:
    """Swap a choice element's key (valueQuantity → valueString) where it stands."""
    items = [(new if k == old else k, v) for k, v in owner.items() if k != "_" + old]
    owner.clear()
    owner.update(items)


def _replace(model: StructureModel, doc: dict[str, Any], op: Operation) -> None:
    assert op.value is not None
    location = _single(model, doc, op, "replacing")
    if location.is_root or location.child is None:
        raise op.fail("cannot replace the resource itself" if location.is_root else "no definition for the element")
    child = location.child
    candidates = [child]
    if child.choice and location.parent is not None:
        candidates = model.children(location.parent).element(child.base_name)
    chosen, json, extra = materialize(model, op.value, candidates, op.fail)
    step: Step = location.step
    key = step.key
    if chosen.name != key:
        _rename_in_place(step.owner, key, chosen.name)
        key = chosen.name
    set_element(step.owner, key, step.index, json, extra)


_APPLY = {"add": _add, "insert": _insert, "delete": _delete, "replace": _replace, "move": _move}


def apply_fhirpath_patch(
    resource: dict[str, Any], parameters: dict[str, Any], registry: PackageRegistry
) -> dict[str, Any]:
    """Apply a FHIRPath Patch to a resource and return the patched copy.

    Raises BadRequest (400) when the Parameters are not a well-formed FHIRPath Patch and
    Unprocessable (422) when an operation cannot apply to this resource.
    """
    model = structure_model(registry)
    operations = read_operations(model, parameters)
    doc = copy.deepcopy(resource)
    for op in operations:
        _APPLY[op.type](model, doc, op)
    return doc
