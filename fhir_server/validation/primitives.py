"""Checks for FHIR R4 primitive values as they appear in JSON.

The lexical rules come from the regexes of the R4 primitive StructureDefinitions themselves, so the
validator agrees with the package it loads. JSON spelling (boolean and numbers are JSON literals, all
else a string), integer ranges, calendar validity and a few spec rules that no regex states are added
here. Each checker answers `None` for a valid value and otherwise the end of an English sentence, so
the caller can prefix it with the element path and the error stays cheap on the valid path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .packages import PackageRegistry

REGEX_EXTENSION = "http://hl7.org/fhir/StructureDefinition/regex"
SD_BASE = "http://hl7.org/fhir/StructureDefinition/"

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
STRING_MAX_LENGTH = 1024 * 1024

# FHIR JSON spells these primitives as JSON literals; every other primitive is a JSON string.
_INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "integer": (INT32_MIN, INT32_MAX),
    "positiveInt": (1, INT32_MAX),
    "unsignedInt": (0, INT32_MAX),
}

# Strings SHALL NOT contain characters below U+0020 other than tab, carriage return and line feed.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Java's \s, which the spec regexes assume: Python's Unicode \s would reject no-break spaces in French text.
_JAVA_SPACE = " \t\n\x0b\f\r"
_BASE64_CHUNK = re.compile(r"(?:[0-9a-zA-Z+/=]{4})+", re.ASCII)
_BASE64_SPLIT = re.compile(r"[ \t\n\x0b\f\r]+")
_DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

Checker = Callable[[Any], "str | None"]


def _json_kind(value: object) -> str:
    """The JSON name of a decoded value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _a(name: str) -> str:
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")


def _real_day(text: str) -> bool:
    """The spec regexes accept 31 days in every month; a date must also exist in the calendar."""
    if len(text) < 10 or text[4] != "-" or text[7] != "-":
        return True
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    if month == 2 and day == 29:
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return day <= _DAYS_IN_MONTH[month]


class PrimitiveType:
    """One R4 primitive type: `check(value)` is None when valid, else why it is not."""

    __slots__ = ("name", "check")

    def __init__(self, name: str, check: Checker) -> None:
        self.name = name
        self.check = check

    def __repr__(self) -> str:
        return f"PrimitiveType({self.name!r})"


def _boolean_checker(name: str) -> Checker:
    def check(value: Any) -> str | None:
        if value is True or value is False:
            return None
        return f"{_a(name)} must be a JSON boolean (true or false), not {_json_kind(value)}"

    return check


def _integer_checker(name: str) -> Checker:
    low, high = _INTEGER_RANGES[name]

    def check(value: Any) -> str | None:
        if type(value) is not int:
            if isinstance(value, float | Decimal) and not isinstance(value, bool):
                return f"{value!r} is not a valid {name} (a whole number without a decimal point is expected)"
            return f"{_a(name)} must be a JSON number, not {_json_kind(value)}"
        if value < low or value > high:
            return f"{value} is out of range for {name} ({low} to {high})"
        return None

    return check


def _decimal_checker(name: str) -> Checker:
    def check(value: Any) -> str | None:
        kind = type(value)
        if kind is int or kind is Decimal:
            return None
        if kind is float:
            return None if math.isfinite(value) else f"{value!r} is not a valid {name}"
        return f"{_a(name)} must be a JSON number, not {_json_kind(value)}"

    return check


def _string_checker(name: str, pattern: str | None) -> Checker:
    """String-spelled types: non-empty JSON strings matching the type's regex."""
    match = re.compile(pattern, re.ASCII).fullmatch if pattern else None

    def check(value: Any) -> str | None:
        if type(value) is not str:
            return f"{_a(name)} must be a JSON string, not {_json_kind(value)}"
        if not value:
            return f"an empty string is not a valid {name}"
        if match is not None and match(value) is None:
            return f"{_shown(value)} is not a valid {name}"
        return None

    return check


def _text_checker(name: str) -> Checker:
    """string and markdown: any characters except most control characters, at most 1 MiB."""

    def check(value: Any) -> str | None:
        if type(value) is not str:
            return f"{_a(name)} must be a JSON string, not {_json_kind(value)}"
        if not value:
            return f"an empty string is not a valid {name}"
        if _CONTROL_CHARS.search(value) is not None:
            return f"{_shown(value)} is not a valid {name} (control characters are not allowed)"
        if len(value) > STRING_MAX_LENGTH:
            return f"a {name} must not be longer than {STRING_MAX_LENGTH} characters"
        return None

    return check


def _date_checker(name: str, pattern: str) -> Checker:
    """date, dateTime, instant: the spec regex, then a day that exists in that month."""
    base = _string_checker(name, pattern)

    def check(value: Any) -> str | None:
        reason = base(value)
        if reason is None and not _real_day(value):
            return f"{_shown(value)} is not a valid {name} (no such day in the calendar)"
        return reason

    return check


def _base64_checker(name: str) -> Checker:
    """The spec regex `(\\s*([0-9a-zA-Z\\+/=]){4}\\s*)+` backtracks badly on large payloads with
    whitespace; splitting on whitespace and matching each run is equivalent and linear."""

    def check(value: Any) -> str | None:
        if type(value) is not str:
            return f"{_a(name)} must be a JSON string, not {_json_kind(value)}"
        if not value:
            return f"an empty string is not a valid {name}"
        runs = [run for run in _BASE64_SPLIT.split(value) if run]
        if not runs or any(_BASE64_CHUNK.fullmatch(run) is None for run in runs):
            return f"{_shown(value)} is not valid {name} (base64 groups of 4 characters are expected)"
        return None

    return check


def _xhtml_checker(name: str) -> Checker:
    """Narrative XHTML: a full XHTML check belongs elsewhere; the root must at least be a div."""

    def check(value: Any) -> str | None:
        if type(value) is not str:
            return f"{_a(name)} value must be a JSON string, not {_json_kind(value)}"
        text = value.lstrip(_JAVA_SPACE)
        if not text.startswith("<div") or len(text) < 5 or text[4] not in "> \t\r\n/":
            return f"the narrative must be XHTML whose root element is <div>, got {_shown(value)}"
        return None

    return check


def _regex_of(definition: dict[str, Any], name: str) -> str | None:
    """The regex stated on `<name>.value` of a primitive StructureDefinition."""
    for element in (definition.get("snapshot") or {}).get("element", []):
        if element.get("path") != f"{name}.value":
            continue
        for type_ in element.get("type", []):
            for ext in type_.get("extension", []):
                if ext.get("url") == REGEX_EXTENSION:
                    return ext.get("valueString")
    return None


class PrimitiveTypes:
    """The primitive types of a package registry, built once per name on first use."""

    def __init__(self, registry: PackageRegistry) -> None:
        self._registry = registry
        self._types: dict[str, PrimitiveType] = {}

    def get(self, name: str) -> PrimitiveType:
        found = self._types.get(name)
        if found is None:
            found = self._types[name] = PrimitiveType(name, self._build(name))
        return found

    def _build(self, name: str) -> Checker:
        if name == "boolean":
            return _boolean_checker(name)
        if name in _INTEGER_RANGES:
            return _integer_checker(name)
        if name == "decimal":
            return _decimal_checker(name)
        if name in ("string", "markdown"):
            return _text_checker(name)
        if name == "base64Binary":
            return _base64_checker(name)
        if name == "xhtml":
            return _xhtml_checker(name)
        definition = self._registry.resolve(SD_BASE + name)
        pattern = _regex_of(definition, name) if definition else None
        if name in ("date", "dateTime", "instant") and pattern:
            return _date_checker(name, pattern)
        return _string_checker(name, pattern)
