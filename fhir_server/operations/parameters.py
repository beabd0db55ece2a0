"""Reading the inputs of an operation from a Parameters body.

Errors name the parameter with the FHIRPath the spec's OperationOutcomes use for Parameters
(`Parameters.parameter.where(name='…')`), so a client sees which input was wrong.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ..errors import BadRequest


def value_of(parameter: dict[str, Any]) -> Any:
    """The `value[x]` of one parameter, whatever its type."""
    for key, value in parameter.items():
        if key.startswith("value"):
            return value
    return None


def where(name: str) -> str:
    return f"Parameters.parameter.where(name='{name}')"


class Inputs:
    """The named parameters of one Parameters resource (first occurrence of each name)."""

    def __init__(self, body: Any, operation: str) -> None:
        if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
            raise BadRequest(f"{operation} takes a Parameters resource as its body", code="structure")
        self.operation = operation
        self.by_name: dict[str, dict[str, Any]] = {}
        for parameter in body.get("parameter") or []:
            if isinstance(parameter, dict) and isinstance(parameter.get("name"), str):
                self.by_name.setdefault(parameter["name"], parameter)

    def has(self, name: str) -> bool:
        return name in self.by_name

    def reference(self, name: str, types: tuple[str, ...], *, required: bool = False) -> str | None:
        """A `valueReference` to one of `types`, as `Type/id`."""
        parameter = self.by_name.get(name)
        if parameter is None:
            if required:
                raise BadRequest(f"{self.operation}: the parameter '{name}' (Reference to {' or '.join(types)}) is "
                                 "required", code="required", expression=(where(name),))
            return None
        reference = str((parameter.get("valueReference") or {}).get("reference") or "")
        res_type, _, res_id = reference.partition("/")
        if res_type not in types or not res_id or "/" in res_id:
            raise BadRequest(f"{self.operation}: '{name}' must be a valueReference to {' or '.join(types)} "
                             f"(Type/id), not {reference or 'nothing'!r}", code="value", expression=(where(name),))
        return reference

    def resource(self, name: str) -> dict[str, Any] | None:
        found = (self.by_name.get(name) or {}).get("resource")
        return found if isinstance(found, dict) else None

    def boolean(self, name: str, default: bool) -> bool:
        parameter = self.by_name.get(name)
        if parameter is None:
            return default
        if not isinstance(parameter.get("valueBoolean"), bool):
            raise BadRequest(f"{self.operation}: '{name}' must be a valueBoolean", code="value",
                             expression=(where(name),))
        return bool(parameter["valueBoolean"])

    def day(self, name: str, default: date) -> date:
        parameter = self.by_name.get(name)
        if parameter is None:
            return default
        try:
            return date.fromisoformat(str(parameter.get("valueDate")))
        except ValueError:
            raise BadRequest(f"{self.operation}: '{name}' must be a valueDate (YYYY-MM-DD)", code="value",
                             expression=(where(name),)) from None
