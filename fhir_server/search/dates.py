"""FHIR date/dateTime/instant text → inclusive [low, high] ranges in microseconds since the epoch (UTC).

Both sides use it: a stored `2021-03` covers the whole of March 2021, and so does a searched
`2021-03`; the spec's prefix semantics are then comparisons of ranges. Values without a time zone are
taken as UTC (the server's reference zone). Integer arithmetic on proleptic-Gregorian day numbers keeps
years 0001 and 9999 and any offset in range, where `datetime` would overflow.
"""

from __future__ import annotations

import calendar
import re
from datetime import date

US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
MIN_US = (date(1, 1, 1).toordinal() - _EPOCH_ORDINAL) * US_PER_DAY - US_PER_DAY
MAX_US = (date(9999, 12, 31).toordinal() - _EPOCH_ORDINAL + 2) * US_PER_DAY

_PATTERN = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


class DateFormatError(ValueError):
    """The text is not a FHIR date, dateTime or instant."""


def _micros(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    days = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    return days * US_PER_DAY + ((hour * 60 + minute) * 60 + second) * US_PER_SECOND


def parse_range(text: str, *, allow_minutes: bool = True) -> tuple[int, int]:
    """The instants covered by `text` at its precision. Raises DateFormatError."""
    match = _PATTERN.match(text.strip())
    if not match:
        raise DateFormatError(f"'{text}' is not a valid date/dateTime (expected YYYY, YYYY-MM, YYYY-MM-DD "
                              "or YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm))")
    year_s, month_s, day_s, hour_s, minute_s, second_s, fraction_s, zone = match.groups()
    year = int(year_s)
    if year < 1:
        raise DateFormatError(f"'{text}': year 0000 does not exist")
    try:
        if month_s is None:
            low = _micros(year, 1, 1)
            return low, _micros(year + 1, 1, 1) - 1 if year < 9999 else MAX_US
        month = int(month_s)
        if not 1 <= month <= 12:
            raise DateFormatError(f"'{text}': month {month_s} is out of range")
        if day_s is None:
            low = _micros(year, month, 1)
            return low, low + calendar.monthrange(year, month)[1] * US_PER_DAY - 1
        day = int(day_s)
        if not 1 <= day <= calendar.monthrange(year, month)[1]:
            raise DateFormatError(f"'{text}': day {day_s} does not exist in {year_s}-{month_s}")
        if hour_s is None:
            low = _micros(year, month, day)
            return low, low + US_PER_DAY - 1
    except ValueError as exc:
        if isinstance(exc, DateFormatError):
            raise
        raise DateFormatError(f"'{text}' is not a valid date: {exc}") from exc
    hour, minute = int(hour_s), int(minute_s)
    if hour > 23 or minute > 59:
        raise DateFormatError(f"'{text}': time {hour_s}:{minute_s} is out of range")
    if second_s is None and not allow_minutes:
        raise DateFormatError(f"'{text}': a time must have seconds")
    second = int(second_s) if second_s is not None else 0
    if second > 59:
        raise DateFormatError(f"'{text}': second {second_s} is out of range")
    offset = 0
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        zone_hours, zone_minutes = int(zone[1:3]), int(zone[4:6])
        if zone_hours > 14 or zone_minutes > 59:
            raise DateFormatError(f"'{text}': time zone {zone} is out of range")
        offset = sign * (zone_hours * 3600 + zone_minutes * 60) * US_PER_SECOND
    low = _micros(year, month, day, hour, minute, second) - offset
    if second_s is None:
        return low, low + 60 * US_PER_SECOND - 1
    if fraction_s is None:
        return low, low + US_PER_SECOND - 1
    digits = fraction_s[:6]
    low += int(digits.ljust(6, "0"))
    return low, low + 10 ** (6 - len(digits)) - 1


def try_parse_range(text: object) -> tuple[int, int] | None:
    if not isinstance(text, str):
        return None
    try:
        return parse_range(text)
    except DateFormatError:
        return None


def micros_to_iso(value: int) -> str:
    """Render a stored instant (for paging cursors and diagnostics)."""
    days, rest = divmod(value, US_PER_DAY)
    day = date.fromordinal(days + _EPOCH_ORDINAL)
    seconds, micros = divmod(rest, US_PER_SECOND)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{day.isoformat()}T{hours:02d}:{minutes:02d}:{seconds:02d}.{micros:06d}Z"
