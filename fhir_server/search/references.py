"""Parsing of reference strings, shared by indexing (`extract/reference.py`), `resolve()` in FHIRPath
and search values, so that `Patient/1`, `Patient/1/_history/2` and `http://host/fhir/Patient/1` are
read the same way everywhere."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from . import model

_ID = r"[A-Za-z0-9\-\.]{1,64}"
_RELATIVE = re.compile(rf"^([A-Z][A-Za-z]+)/({_ID})(?:/_history/[^/]+)?$")
_ABSOLUTE = re.compile(rf"^(https?://.+?)/([A-Z][A-Za-z]+)/({_ID})(?:/_history/[^/]+)?$")


@dataclass(frozen=True)
class ParsedReference:
    """`type`/`id` for a reference to a resource (relative, or absolute with `base`); `url` for
    absolute references and canonicals, without any `|version`."""

    type: str = ""
    id: str = ""
    base: str = ""
    url: str = ""


@lru_cache(maxsize=16384)
def parse_reference(text: str) -> ParsedReference | None:
    """Cached: one reference is read several times per write (`resolve() is T` filters, then the rows of
    each parameter holding it: an AuditEvent of a transaction parses each of its entities three times).
    The result is immutable."""
    match = _RELATIVE.match(text)
    if match and model.is_resource_type(match.group(1)):
        return ParsedReference(type=match.group(1), id=match.group(2))
    match = _ABSOLUTE.match(text)
    if match and model.is_resource_type(match.group(2)):
        return ParsedReference(type=match.group(2), id=match.group(3), base=match.group(1), url=text)
    if text.startswith("#") or not text:
        return None
    return ParsedReference(url=text.split("|", 1)[0])


def reference_type(value: Any) -> str:
    """The resource type a Reference points to ('' when unknown): what `resolve() is T` tests."""
    if not isinstance(value, dict):
        return ""
    text = value.get("reference")
    if not isinstance(text, str):
        return ""
    parsed = parse_reference(text)
    return parsed.type if parsed else ""
