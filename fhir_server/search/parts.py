"""The text parts of the two FHIR types whose strings are searched part by part (`family`, `given`,
`address-city`…): one bit each in a string index row's `parts`, so that a part's parameter reads its
parent parameter's rows (`name`, `address`) instead of storing the same texts again."""

from __future__ import annotations

PARTS: dict[str, tuple[str, ...]] = {
    "HumanName": ("text", "family", "given", "prefix", "suffix"),
    "Address": ("text", "line", "city", "district", "state", "postalCode", "country"),
}


def part_bit(type_name: str, part: str) -> int:
    """The bit of `part` of a `PARTS` type; 0 when it is not one."""
    parts = PARTS.get(type_name, ())
    return 1 << parts.index(part) if part in parts else 0
