"""Small facts about FHIR resources that several layers need: ids, instants, ETags."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qsl, urlencode

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def new_id() -> str:
    return str(uuid.uuid4())


def valid_id(value: str) -> bool:
    return bool(ID_PATTERN.match(value))


def now_ms() -> datetime:
    """The current instant truncated to milliseconds, so `meta.lastUpdated` and the stored column
    are exactly equal and `_since`/`_lastUpdated` comparisons never disagree with what clients saw."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


def etag(version_id: int) -> str:
    return f'W/"{version_id}"'


def normalise_query(query: str) -> str:
    """Search criteria in a canonical order, so equal conditions compare (and lock) equal."""
    return urlencode(sorted(parse_qsl(query, keep_blank_values=True)))


def parse_etag(value: str) -> str:
    """The version id inside `W/"3"`, `"3"` or `3` (clients are inconsistent about the quoting)."""
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')
