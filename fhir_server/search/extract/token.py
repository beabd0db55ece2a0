"""Token rows: (system, code) pairs from Coding, CodeableConcept, Identifier, ContactPoint, boolean
and code-like primitives, plus the display text for `:text` and identifier types for `:of-type`.

Absent systems are stored as '' so that `|code` (explicitly no system) is an exact hash lookup.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..fastpath import Typed
from ..hashing import hash_parts, identity_hash
from ..text import NORMALISED_LENGTH, words
from .rows import Emitted, Row

Token = tuple[str, str, str]  # system, code, display text

OF_TYPE = ":of-type"


def token_row(hash_type: str, key: str, system: str, code: str, text: str = "") -> Row:
    """(hash_identity, hash_value, hash_sys, hash_sys_value, system, value, text)"""
    return (identity_hash(hash_type, key), hash_parts(hash_type, key, code),
            hash_parts(hash_type, key, system, ""), hash_parts(hash_type, key, system, code), system, code,
            words(text)[:NORMALISED_LENGTH] if text else "")


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _coding(value: dict[str, Any]) -> Token | None:
    system, code, display = _str(value.get("system")), _str(value.get("code")), _str(value.get("display"))
    return (system, code, display) if system or code or display else None


def tokens(type_name: str, value: Any) -> Iterator[Token]:
    """The tokens one value stands for; shared with composite parameters."""
    if isinstance(value, bool):
        yield "", "true" if value else "false", ""
        return
    if isinstance(value, int | float):
        yield "", str(value), ""
        return
    if isinstance(value, str):
        if value:
            yield "", value, ""
        return
    if not isinstance(value, dict):
        return
    if type_name == "CodeableConcept" or (type_name not in ("Coding", "Identifier", "ContactPoint")
                                         and ("coding" in value or "text" in value)):
        for coding in value.get("coding") or []:
            if isinstance(coding, dict) and (found := _coding(coding)):
                yield found
        if _str(value.get("text")):
            yield "", "", value["text"]
    elif type_name == "Coding" or "code" in value:
        if found := _coding(value):
            yield found
    elif type_name in ("Identifier", "ContactPoint") or "value" in value:
        system, code = _str(value.get("system")), _str(value.get("value"))
        type_text = ""
        if isinstance(value.get("type"), dict):
            type_text = _str(value["type"].get("text"))
        if system or code:
            yield system, code, type_text


def rows(hash_type: str, key: str, values: list[Typed], code_system: str = "") -> list[Emitted]:
    """`code_system`: the system a `code` element's required binding implies (see `bindings.py`)."""
    out: list[Emitted] = []
    for type_name, value in values:
        for system, code, text in tokens(type_name, value):
            if code_system and type_name == "code" and not system:
                system = code_system
            out.append(("token", token_row(hash_type, key, system, code, text)))
        if type_name == "Identifier" and isinstance(value, dict):
            out.extend(_of_type_rows(hash_type, key, value))
    return out


def _of_type_rows(hash_type: str, key: str, identifier: dict[str, Any]) -> list[Emitted]:
    """`identifier:of-type=type-system|type-code|value`: one row per identifier type coding, the type
    folded into the system so that the lookup stays a single hash."""
    code = _str(identifier.get("value"))
    id_type = identifier.get("type")
    if not code or not isinstance(id_type, dict):
        return []
    out = []
    for coding in id_type.get("coding") or []:
        if isinstance(coding, dict) and _str(coding.get("code")):
            system = f"{_str(coding.get('system'))}|{coding['code']}"
            out.append(("token", token_row(hash_type, key + OF_TYPE, system, code)))
    return out
