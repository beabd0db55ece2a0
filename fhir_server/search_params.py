"""Parsing of the date/instant values that history and conditional URLs share with search."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .errors import BadRequest

_INSTANT = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$"
)


def parse_instant(value: str, name: str) -> datetime:
    """A full instant with a timezone, as `_since` requires; anything vaguer is a client error."""
    if not _INSTANT.match(value):
        raise BadRequest(
            f"{name} must be an instant with a time zone (e.g. 2026-01-31T12:00:00Z), got {value!r}",
            expression=(name,),
        )
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"{name}: {value!r} is not a valid instant ({exc})", expression=(name,)) from exc
    return parsed.astimezone(UTC)
