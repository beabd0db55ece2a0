"""FHIRPath functions fhirpathpy 2.2.4 lacks, registered by `fhirpath.py`: `lowBoundary()` and
`highBoundary()` (FHIRPath 2.0 / R5, used by invariants comparing partial dates and decimals), and the
string functions `matchesFull()`, `escape()` and `unescape()`.

A decimal stands for the interval its precision implies (1.587 is [1.5865, 1.5875)); a partial date
or time for all the instants it covers. The boundaries are written at the requested precision
(digits of a decimal, 4/6/8/10/12/14/17 for dates and date-times, 2/4/6/9 for times); an
unsupported precision answers empty, as the specification says.
"""

from __future__ import annotations

import calendar
import html
import json
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from fhirpathpy.engine.nodes import FP_DateTime, FP_Quantity, FP_Time

from .fastpath import carries_extension

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?"
                   r"(Z|[+-]\d{2}:\d{2})?$")
_TIME = re.compile(r"^T?(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?$")
_DATE_PRECISIONS = (4, 6, 8, 10, 12, 14, 17)
_TIME_PRECISIONS = (2, 4, 6, 9)


def _decimal_boundary(value: Decimal | int, precision: int | None, low: bool) -> Decimal | None:
    digits = 8 if precision is None else precision
    if digits < 0 or digits > 28:
        return None
    number = Decimal(value)
    exponent = number.as_tuple().exponent
    half = Decimal(5).scaleb(min(int(exponent), 0) - 1)
    bound = number - half if low else number + half
    return bound.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_FLOOR if low else ROUND_CEILING)


def _date_boundary(text: str, precision: int | None, low: bool) -> str | None:
    match = _DATE.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    digits = precision if precision is not None else 17
    if digits not in _DATE_PRECISIONS:
        return None
    if hour is not None and minute is None:
        minute = "00"  # `T08` is not a FHIR time: read as 08:00
    month = month or ("01" if low else "12")
    if day is None:
        day = "01" if low else f"{calendar.monthrange(int(year), int(month))[1]:02d}"
    hour, minute, second = hour or ("00" if low else "23"), minute or ("00" if low else "59"), second or (
        "00" if low else "59")
    millis = (fraction or "")[:3].ljust(3, "0" if low else "9") if fraction else ("000" if low else "999")
    zone = zone or ("+14:00" if low else "-12:00")
    parts = [year, f"-{month}", f"-{day}", f"T{hour}", f":{minute}", f":{second}", f".{millis}"]
    count = _DATE_PRECISIONS.index(digits) + 1
    out = "".join(parts[:count])
    return out + zone if count >= 4 else out


def _time_boundary(text: str, precision: int | None, low: bool) -> str | None:
    match = _TIME.match(text)
    digits = precision if precision is not None else 9
    if not match or digits not in _TIME_PRECISIONS:
        return None
    hour, minute, second, fraction = match.groups()
    minute, second = minute or ("00" if low else "59"), second or ("00" if low else "59")
    millis = (fraction or "")[:3].ljust(3, "0" if low else "9") if fraction else ("000" if low else "999")
    parts = [hour, f":{minute}", f":{second}", f".{millis}"]
    return "".join(parts[: _TIME_PRECISIONS.index(digits) + 1])


def _boundary(low: bool) -> Any:
    def function(inputs: list[Any], precision: int | None = None) -> list[Any]:
        if len(inputs) != 1:
            return []
        value = inputs[0]
        if isinstance(value, bool):
            return []
        if isinstance(value, Decimal | int):
            found = _decimal_boundary(value, precision, low)
            return [] if found is None else [found]
        if isinstance(value, FP_Quantity):
            found = _decimal_boundary(Decimal(str(value.value)), precision, low)
            return [] if found is None else [FP_Quantity(found, value.unit)]
        if isinstance(value, FP_Time):
            text = _time_boundary(getattr(value, "asStr", str(value)), precision, low)
            return [] if text is None else [FP_Time(text)]
        if isinstance(value, FP_DateTime | str):
            text = _date_boundary(getattr(value, "asStr", str(value)), precision, low)
            return [] if text is None else [FP_DateTime(text)]
        return []

    return function


def _matches_full(inputs: list[Any], pattern: Any) -> list[Any]:
    if len(inputs) != 1 or not isinstance(inputs[0], str) or not isinstance(pattern, str):
        return []
    return [re.fullmatch(pattern, inputs[0], re.DOTALL) is not None]


def _escape(inputs: list[Any], target: Any) -> list[Any]:
    if len(inputs) != 1 or not isinstance(inputs[0], str):
        return []
    if target == "html":
        return [html.escape(inputs[0], quote=True).replace("&#x27;", "&#39;")]
    if target == "json":
        return [json.dumps(inputs[0], ensure_ascii=False)[1:-1]]
    return []


def _unescape(inputs: list[Any], target: Any) -> list[Any]:
    if len(inputs) != 1 or not isinstance(inputs[0], str):
        return []
    if target == "html":
        return [html.unescape(inputs[0])]
    if target == "json":
        try:
            return [json.loads(f'"{inputs[0]}"')]
        except json.JSONDecodeError:
            return []
    return []


def _has_extension(inputs: list[Any], url: Any) -> list[Any]:
    """FHIR's `hasExtension(url)`, used by R4 core SearchParameters (QuestionnaireResponse
    `item-subject`) and absent from fhirpathpy; without it every response write logged a failure."""
    if not inputs:
        return []
    found = False
    for item in inputs:
        found = found or carries_extension(getattr(item, "data", item), url)
    return [found]


FUNCTIONS: dict[str, dict[str, Any]] = {
    "hasExtension": {"fn": _has_extension, "arity": {1: ["String"]}},
    "matchesFull": {"fn": _matches_full, "arity": {1: ["String"]}},
    "escape": {"fn": _escape, "arity": {1: ["String"]}},
    "unescape": {"fn": _unescape, "arity": {1: ["String"]}},
    "lowBoundary": {"fn": _boundary(True), "arity": {0: [], 1: ["Integer"]}},
    "highBoundary": {"fn": _boundary(False), "arity": {0: [], 1: ["Integer"]}},
}
