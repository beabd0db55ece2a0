"""`_sort` keys as SQL expressions, and keyset paging over them.

A parameter with several values sorts by its lowest value ascending, highest descending; resources
without a value sort last either way (coalesced to a sentinel). Every ordering ends with the resource
pk, so it is total, and a page is addressed by the sort values of the row it starts after (a cursor)
rather than by an offset: the last page costs what the first does, and pages stay stable while
resources are added or removed elsewhere in the result.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, FromClause, and_, func, literal, or_, select

from fhir_server.errors import BadRequest

from .dates import MAX_US, MIN_US
from .extract.number import HIGHEST, LOWEST
from .predicates import target_for
from .registry import SearchParameters
from .tables import INDEX_TABLES

_TEXT_LAST = "\U0010ffff"


@dataclass(frozen=True)
class SortKey:
    code: str
    descending: bool
    expression: ColumnElement[Any]
    kind: str  # int | float | text | instant


_COLUMNS: dict[str, tuple[str, str, Any, Any]] = {
    # type → (ascending column, descending column, sentinel ascending, sentinel descending)
    "date": ("low", "high", MAX_US, MIN_US),
    "number": ("low", "high", HIGHEST, LOWEST),
    "quantity": ("low", "high", HIGHEST, LOWEST),
    "string": ("value_norm", "value_norm", _TEXT_LAST, ""),
    "token": ("value", "value", _TEXT_LAST, ""),
    "uri": ("uri", "uri", _TEXT_LAST, ""),
    "reference": ("target_id", "target_id", _TEXT_LAST, ""),
}
_KINDS = {"date": "int", "number": "float", "quantity": "float"}


def sort_keys(params: SearchParameters, res_types: list[str], sort: list[tuple[str, bool]], row: FromClause,
              dialect: str) -> list[SortKey]:
    keys = []
    for code, descending in sort:
        if code == "_id":
            column = row.c.res_id.collate("C") if dialect == "postgresql" else row.c.res_id
            keys.append(SortKey(code, descending, column, "text"))
            continue
        if code == "_lastUpdated":
            keys.append(SortKey(code, descending, row.c.last_updated, "instant"))
            continue
        found = {t: params.get(t, code) for t in res_types}
        param = next(iter(found.values()), None)
        if param is None or any(p is None for p in found.values()) or not param.indexed:
            raise BadRequest(f"Unknown or unsupported _sort parameter '{code}'", code="not-supported")
        if param.type == "composite" or (len(res_types) > 1 and not param.resource_level):
            raise BadRequest(f"Cannot sort by '{code}'", code="not-supported")
        table = INDEX_TABLES[param.type]
        ascending_column, descending_column, last_ascending, last_descending = _COLUMNS[param.type]
        column = table.c[descending_column if descending else ascending_column]
        if dialect == "postgresql" and _KINDS.get(param.type) is None:
            column = column.collate("C")
        aggregate = func.max(column) if descending else func.min(column)
        target = target_for(params, res_types[0], param)
        scalar = (
            select(aggregate)
            .where(table.c.res_pk == row.c.pk, table.c.hash_identity == target.identity,
                   *target.narrowing(table))
            .scalar_subquery()
        )
        sentinel = last_descending if descending else last_ascending
        keys.append(SortKey(code, descending, func.coalesce(scalar, literal(sentinel)),
                            _KINDS.get(param.type, "text")))
    return keys


@dataclass(frozen=True)
class Cursor:
    """A page boundary: the sort values and pk of a row; `forward` pages start after it, backward
    pages end before it (`inclusive`: at it)."""

    forward: bool
    inclusive: bool
    values: tuple[Any, ...]
    pk: int

    def encode(self) -> str:
        values = [v.isoformat() if isinstance(v, datetime) else v for v in self.values]
        raw = orjson.dumps([1, "n" if self.forward else "p", self.inclusive, values, self.pk])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode(token: str, keys: list[SortKey]) -> Cursor:
        try:
            raw = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            version, direction, inclusive, values, pk = raw
            if version != 1 or direction not in ("n", "p") or len(values) != len(keys) or not isinstance(pk, int):
                raise ValueError("shape")
            decoded = tuple(_decode_value(v, key.kind) for v, key in zip(values, keys, strict=True))
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
            raise BadRequest(f"Invalid _cursor '{token}': it must come from a link of this search",
                             code="invalid") from exc
        return Cursor(direction == "n", bool(inclusive), decoded, pk)


def _decode_value(value: Any, kind: str) -> Any:
    if kind == "instant":
        if not isinstance(value, str):
            raise ValueError("instant")
        return datetime.fromisoformat(value)
    if kind == "int" and not isinstance(value, int):
        raise ValueError("int")
    if kind == "float" and not isinstance(value, int | float):
        raise ValueError("float")
    if kind == "text" and not isinstance(value, str):
        raise ValueError("text")
    return value


def after(keys: list[SortKey], pk_column: ColumnElement[Any], cursor: Cursor) -> ColumnElement[bool]:
    """Rows strictly after (forward) or before (backward) the cursor in the sort order."""
    terms = []
    equal: list[ColumnElement[bool]] = []
    for key, value in zip(keys, cursor.values, strict=True):
        smaller = key.descending == cursor.forward  # what comes next has a smaller value
        terms.append(and_(*equal, key.expression < value if smaller else key.expression > value))
        equal.append(key.expression == value)
    if cursor.forward:
        last = pk_column >= cursor.pk if cursor.inclusive else pk_column > cursor.pk
    else:
        last = pk_column <= cursor.pk if cursor.inclusive else pk_column < cursor.pk
    terms.append(and_(*equal, last))
    return or_(*terms)


def order_by(keys: list[SortKey], pk_column: ColumnElement[Any], forward: bool) -> list[ColumnElement[Any]]:
    out = []
    for key in keys:
        descending = key.descending == forward
        out.append(key.expression.desc() if descending else key.expression.asc())
    out.append(pk_column.asc() if forward else pk_column.desc())
    return out
