"""Reference rows: local targets as (type, id), absolute URLs and canonicals (version stripped) as a
URL; a Reference's `identifier` becomes a token row under `code:identifier` for the `:identifier`
modifier. Contained (`#id`) references are not indexed."""

from __future__ import annotations

from typing import Any

from ..fastpath import Typed
from ..hashing import identity_hash
from ..references import parse_reference
from .rows import Emitted, Row
from .token import token_row

IDENTIFIER = ":identifier"


def reference_row(hash_type: str, key: str, target_type: str, target_id: str, url: str) -> Row:
    """(hash_identity, target_type, target_id, target_url)"""
    return (identity_hash(hash_type, key), target_type, target_id, url)


def rows(hash_type: str, key: str, values: list[Typed], local_base: str = "") -> list[Emitted]:
    """`local_base`: absolute references starting with it are this server's and indexed as Type/id."""
    out: list[Emitted] = []
    for _, value in values:
        text: Any = value
        if isinstance(value, dict):
            identifier = value.get("identifier")
            if isinstance(identifier, dict):
                system, code = identifier.get("system"), identifier.get("value")
                if isinstance(code, str) and code:
                    system = system if isinstance(system, str) else ""
                    out.append(("token", token_row(hash_type, key + IDENTIFIER, system, code)))
            text = value.get("reference")
        if not isinstance(text, str):
            continue
        parsed = parse_reference(text)
        if parsed is None:
            continue
        if parsed.type and (not parsed.base or (local_base and parsed.base == local_base)):
            out.append(("reference", reference_row(hash_type, key, parsed.type, parsed.id, "")))
        else:
            out.append(("reference", reference_row(hash_type, key, "", "", parsed.url)))
    return out
