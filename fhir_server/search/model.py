"""The R4 element model used to walk resources: element types, choice elements, content references.

It is the model fhirpathpy itself uses (`fhirpathpy.models.models["r4"]`), so the direct evaluator and
the FHIRPath engine resolve `Observation.value` to the same `valueQuantity`/`valueString`… keys and give
values the same types.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from fhirpathpy.models import models

_R4 = models["r4"]
PATH_TO_TYPE: dict[str, str] = _R4["path2Type"]
CHOICES: dict[str, list[str]] = _R4["choiceTypePaths"]
PARENT_TYPE: dict[str, str] = _R4["type2Parent"]
DEFINED_ELSEWHERE: dict[str, str] = _R4["pathsDefinedElsewhere"]
FHIRPATH_MODEL = _R4

# Element types treated as "a resource of any type" (contained resources, Bundle entries…).
RESOURCE_TYPE = "Resource"


@dataclass(frozen=True)
class Child:
    """How to reach one child element in JSON: the key, and the model path of what is found there.

    `path` is a type name ("HumanName", "Quantity") when the element has a named type, otherwise the
    element path of a backbone element ("Patient.contact")."""

    key: str
    path: str


def type_of(path: str) -> str:
    """The FHIR type name of the value found at model path `path`."""
    if "." not in path:
        return "string" if path == "System.String" else path
    return "BackboneElement"


@cache
def is_resource_type(name: str) -> bool:
    seen = name
    while seen in PARENT_TYPE:
        seen = PARENT_TYPE[seen]
        if seen in ("Resource", "DomainResource"):
            return True
    return name in ("Resource", "DomainResource")


def is_a(type_name: str, wanted: str) -> bool:
    """FHIR type specialisation: Age is a Quantity, Patient is a DomainResource and a Resource."""
    seen = type_name
    while True:
        if seen == wanted:
            return True
        parent = PARENT_TYPE.get(seen)
        if parent is None:
            return False
        seen = parent


def _capitalise(type_name: str) -> str:
    return type_name[:1].upper() + type_name[1:]


@cache
def children(path: str, name: str) -> tuple[Child, ...]:
    """Where element `name` of the value at model path `path` lives in JSON (several keys for a
    choice element, e.g. value → valueQuantity, valueString…)."""
    full = f"{path}.{name}"
    if full in CHOICES:
        out = []
        for choice in CHOICES[full]:
            key = name + _capitalise(choice)
            out.append(Child(key, _value_path(f"{path}.{key}", choice)))
        return tuple(out)
    if full in DEFINED_ELSEWHERE:
        return (Child(name, DEFINED_ELSEWHERE[full]),)
    if full in PATH_TO_TYPE:
        return (Child(name, PATH_TO_TYPE[full]),)
    return (Child(name, full),)


def _value_path(full: str, choice: str) -> str:
    found = PATH_TO_TYPE.get(full)
    if found:
        return found
    return choice[:1].lower() + choice[1:] if choice in ("DateTime", "Date", "Time", "Instant") else choice
