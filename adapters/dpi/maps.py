"""The map engine: reads mappings/dpi/ and writes segment fields into FHIR resources.

Data, not code, decides which field lands in which element: `segments/<SEG>.toml` lists rules
(field, converter, target path), `conceptmaps/*.json` hold the code tables, `messages.toml` the
accepted message types and their options, `ignored-segments.toml` the segments deliberately not mapped
(with the reason). Adding a mapped field is a new rule line. Paths are dotted FHIR element paths where
`name[]` appends, `name[0]` addresses an item and `name[$]` the item of the segment's occurrence
(the second TQ1 of an order fills `dosageInstruction[1]`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .conceptmaps import ConceptMaps
from .datatypes import CONVERTERS, Context, Rule
from .er7 import Segment
from .errors import REQUIRED_FIELD_MISSING, ContentError, Problem

_STEP = re.compile(r"([A-Za-z][A-Za-z0-9]*)(?:\[(\d*|\$)\])?")
_RULE_KEYS = {"resource", "field", "component", "type", "path", "repeat", "required", "map", "as", "if_absent",
              "note"}


@dataclass(frozen=True)
class MessageSpec:
    """One accepted message type (`RDE^O11`) and the options its builder reads."""

    name: str
    kind: str
    options: dict[str, Any] = field(default_factory=dict)


class MappingError(ValueError):
    """The mapping data itself is wrong: found at start-up, never while a message waits."""


@dataclass
class Mappings:
    rules: dict[tuple[str, str], list[Rule]]
    maps: ConceptMaps
    messages: dict[str, MessageSpec]
    ignored: dict[str, str]
    config: dict[str, Any]
    folder: Path

    @classmethod
    def load(cls, folder: Path) -> Mappings:
        if not folder.is_dir():
            raise MappingError(f"mapping folder {folder} does not exist (ONCOLINK_DPI_MAPPINGS)")
        maps = ConceptMaps.load(folder / "conceptmaps")
        rules: dict[tuple[str, str], list[Rule]] = {}
        for path in sorted((folder / "segments").glob("*.toml")):
            document = tomllib.loads(path.read_text(encoding="utf-8"))
            segment = document.get("segment")
            if segment != path.stem:
                raise MappingError(f"{path}: 'segment' must be {path.stem!r}")
            for number, raw in enumerate(document.get("field", []), 1):
                rule = _rule(path, number, segment, raw, maps)
                rules.setdefault((segment, rule.resource), []).append(rule)
        messages_doc = tomllib.loads((folder / "messages.toml").read_text(encoding="utf-8"))
        messages = {}
        for name, options in messages_doc.get("messages", {}).items():
            options = dict(options)
            kind = options.pop("kind")
            messages[name] = MessageSpec(name, kind, options)
        ignored_doc = tomllib.loads((folder / "ignored-segments.toml").read_text(encoding="utf-8"))
        ignored = {name: str(reason) for name, reason in ignored_doc.get("segments", {}).items()}
        overlap = sorted(set(ignored) & {s for s, _ in rules})
        if overlap:
            raise MappingError(f"segments both mapped and ignored: {', '.join(overlap)}")
        return cls(rules, maps, messages, ignored, messages_doc.get("config", {}), folder)

    def mapped_segments(self) -> set[str]:
        return {segment for segment, _ in self.rules}

    def has_rules(self, segment: str, resource: str) -> bool:
        return (segment, resource) in self.rules

    def apply(self, segment: Segment, resource_type: str, resource: dict[str, Any], ctx: Context,
              occurrence: int = 0) -> None:
        """Write every rule of (segment, resource_type) into `resource`. Raises ContentError with all the
        problems of the segment at once, so a sender fixes them in one round."""
        problems: list[Problem] = []
        for rule in self.rules.get((segment.name, resource_type), ()):
            repetitions = segment.repetitions(rule.field)
            if rule.component is not None:
                repetitions = [r.component_field(rule.component) for r in repetitions]
                repetitions = [r for r in repetitions if not r.empty]
            if not repetitions and not rule.required:
                continue
            location = segment.location(rule.field, rule.component)
            if not repetitions:
                problems.append(Problem(REQUIRED_FIELD_MISSING,
                                        f"{segment.name}-{rule.field} is required ({rule.note or rule.path})",
                                        location))
                continue
            converter = CONVERTERS[rule.type]
            try:
                values = [converter(rep, rule, ctx, location) for rep in (repetitions if rule.repeat
                                                                           else repetitions[:1])]
            except ContentError as exc:
                problems.extend(exc.problems)
                continue
            values = [v for v in values if v is not None]
            if not values:
                if rule.required:
                    problems.append(Problem(REQUIRED_FIELD_MISSING, f"{segment.name}-{rule.field} carries no usable "
                                            f"value ({rule.note or rule.path})", location))
                continue
            set_path(resource, rule.path, values if rule.repeat else values[0], occurrence, if_absent=rule.if_absent)
        if problems:
            raise ContentError(*problems)


def _rule(path: Path, number: int, segment: str, raw: dict[str, Any], maps: ConceptMaps) -> Rule:
    where = f"{path.name} rule {number}"
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise MappingError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("resource", "field", "type", "path"):
        if key not in raw:
            raise MappingError(f"{where}: '{key}' is required")
    if raw["type"] not in CONVERTERS:
        raise MappingError(f"{where}: type {raw['type']!r} is not one of {sorted(CONVERTERS)}")
    if raw.get("map") and raw["map"] not in maps.tables:
        raise MappingError(f"{where}: ConceptMap {raw['map']!r} not found in conceptmaps/")
    for step in raw["path"].split("."):
        if not _STEP.fullmatch(step):
            raise MappingError(f"{where}: bad path step {step!r} in {raw['path']!r}")
    return Rule(segment=segment, resource=raw["resource"], field=int(raw["field"]), type=raw["type"],
                path=raw["path"], component=raw.get("component"), repeat=bool(raw.get("repeat", False)),
                required=bool(raw.get("required", False)), map=raw.get("map"), as_=raw.get("as"),
                if_absent=bool(raw.get("if_absent", False)), note=raw.get("note", ""))


@lru_cache(maxsize=1024)
def _steps(path: str) -> tuple[tuple[str, str, str | None], ...]:
    """A path's steps as (step, name, index), read once per path: the maps hold a few hundred."""
    steps = []
    for step in path.split("."):
        match = _STEP.fullmatch(step)
        assert match is not None, f"bad path step {step!r} in {path!r}"  # rules are checked at load (`_rule`)
        steps.append((step, match.group(1), match.group(2)))
    return tuple(steps)


def set_path(resource: dict[str, Any], path: str, value: Any, occurrence: int = 0, *, if_absent: bool = False
             ) -> None:
    """Set `value` at a dotted path, creating objects and list items on the way."""
    steps = _steps(path)
    node: Any = resource
    for position, (step, name, index) in enumerate(steps):
        last = position == len(steps) - 1
        if index is None:
            if last:
                if if_absent and name in node:
                    return
                current = node.get(name)
                node[name] = {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value
                return
            node = node.setdefault(name, {})
            continue
        items = node.setdefault(name, [])
        if index == "":
            if not last:
                raise MappingError(f"'{step}' (append) must be the last step of {path!r}")
            if if_absent and items:
                return
            items.extend(value if isinstance(value, list) else [value])
            return
        slot = occurrence if index == "$" else int(index)
        while len(items) <= slot:
            items.append({})
        if last:
            if if_absent and items[slot]:
                return
            items[slot] = value
            return
        node = items[slot]
