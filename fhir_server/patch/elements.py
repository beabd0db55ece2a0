"""Editing FHIR elements inside a resource's JSON.

In FHIR JSON one element can live in two places: a primitive's value under `name` and its `id` and
extensions under `_name`, repeated primitives as two index-aligned arrays with `null` holes. Every
edit goes through here so that both halves always move together, and so that an element emptied by
a delete disappears instead of leaving `{}` or `[]` behind (FHIR forbids empty elements).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Step:
    """One element inside `owner`: `owner[key]` or `owner[key][index]`.

    `holder` means the step designates the element's `_key` companion object (where a primitive's
    `id` and `extension` live) rather than its value.
    """

    owner: dict[str, Any]
    key: str
    index: int | None
    holder: bool = False

    def value(self) -> Any:
        """The element's value (None for a primitive that only has extensions)."""
        return _item(self.owner.get(self.key), self.index)

    def extra(self) -> Any:
        return _item(self.owner.get("_" + self.key), self.index)

    def designated(self) -> Any:
        return self.extra() if self.holder else self.value()


def _item(container: Any, index: int | None) -> Any:
    if index is None:
        return container
    if isinstance(container, list) and 0 <= index < len(container):
        return container[index]
    return None


def _pad(items: list[Any], length: int) -> list[Any]:
    items.extend([None] * (length - len(items)))
    return items


def normalize(owner: dict[str, Any], key: str) -> None:
    """Restore FHIR JSON rules for `key` after an edit: aligned arrays, no all-null or empty array,
    no entry where both value and extras are gone."""
    values = owner.get(key)
    extras = owner.get("_" + key)
    if isinstance(values, list) or isinstance(extras, list):
        values = values if isinstance(values, list) else []
        extras = extras if isinstance(extras, list) else []
        length = max(len(values), len(extras))
        _pad(values, length)
        _pad(extras, length)
        kept = [(v, e) for v, e in zip(values, extras, strict=True) if v is not None or e is not None]
        values[:] = [v for v, _ in kept]
        extras[:] = [e for _, e in kept]
        owner[key], owner["_" + key] = values, extras
    for name, current in ((key, owner.get(key)), ("_" + key, owner.get("_" + key))):
        if (
            current is None
            or current == []
            or current == {}
            or (isinstance(current, list) and all(v is None for v in current))
        ):
            owner.pop(name, None)


def set_element(owner: dict[str, Any], key: str, index: int | None, value: Any, extra: dict[str, Any] | None) -> None:
    """Put a whole element (value and extras) at a place, replacing what was there."""
    if index is None:
        if value is None:
            owner.pop(key, None)
        else:
            owner[key] = value
        if extra is None:
            owner.pop("_" + key, None)
        else:
            owner["_" + key] = extra
        return
    values = owner.setdefault(key, [])
    _pad(values, index + 1)[index] = value
    if extra is not None or "_" + key in owner:
        extras = owner.setdefault("_" + key, [])
        _pad(extras, index + 1)[index] = extra
    normalize(owner, key)


def insert_element(owner: dict[str, Any], key: str, index: int, value: Any, extra: dict[str, Any] | None) -> None:
    """Insert into a repeating element, keeping `_key` aligned."""
    values = owner.get(key)
    if not isinstance(values, list):
        values = owner[key] = []
    extras = owner.get("_" + key)
    length = max(len(values), len(extras) if isinstance(extras, list) else 0)
    _pad(values, length).insert(index, value)
    if extra is not None or isinstance(extras, list):
        extras = extras if isinstance(extras, list) else []
        owner["_" + key] = extras
        _pad(extras, length).insert(index, extra)
    normalize(owner, key)


def remove_element(owner: dict[str, Any], key: str, index: int | None) -> tuple[Any, Any]:
    """Take an element out (value and extras); returns both halves."""
    if index is None:
        return owner.pop(key, None), owner.pop("_" + key, None)
    values = owner.get(key)
    extras = owner.get("_" + key)
    value = values.pop(index) if isinstance(values, list) and index < len(values) else None
    extra = extras.pop(index) if isinstance(extras, list) and index < len(extras) else None
    normalize(owner, key)
    return value, extra


def holder_for(step: Step) -> dict[str, Any]:
    """The `_key` object of a primitive element, created when it does not exist yet."""
    current = step.extra()
    if isinstance(current, dict):
        return current
    created: dict[str, Any] = {}
    set_element(step.owner, step.key, step.index, step.value(), created)
    return created


def remove_step(step: Step) -> None:
    """Remove what a step designates: the element, or only its extras for a holder step."""
    if step.holder:
        set_element(step.owner, step.key, step.index, step.value(), None)
    else:
        remove_element(step.owner, step.key, step.index)


def prune(steps: list[Step]) -> None:
    """After a delete at `steps[-1]`, drop every ancestor the delete left empty, bottom-up."""
    for step in reversed(steps[:-1]):
        if step.designated() != {}:
            return
        remove_step(step)
