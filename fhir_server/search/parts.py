"""The text parts of the two FHIR types whose strings are searched part by part (`family`, `given`,
`address-city`…): one bit each in a string index row's `parts`, so that a part's parameter reads its
parent parameter's rows (`name`, `address`) instead of storing the same texts again."""

from __future__ import annotations

_NAMES: dict[str, tuple[str, ...]] = {
    "HumanName": ("text", "family", "given", "prefix", "suffix"),
    "Address": ("text", "line", "city", "district", "state", "postalCode", "country"),
}
# Per type, (element, bit) in element order: what the extractor walks and the registry looks up.
PARTS: dict[str, tuple[tuple[str, int], ...]] = {
    type_name: tuple((name, 1 << position) for position, name in enumerate(names))
    for type_name, names in _NAMES.items()
}


def part_bit(type_name: str, part: str) -> int:
    """The bit of `part` of a `PARTS` type; 0 when it is not one."""
    return dict(PARTS.get(type_name, ())).get(part, 0)
