"""SQL expressions whose text must not depend on the data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


def one_of(column: sa.ColumnElement[Any], values: Sequence[Any], dialect: str) -> sa.ColumnElement[bool]:
    """`column IN values`. On PostgreSQL `column = ANY(array)`: one bound parameter whatever the number of
    values, so the statement text is the same from one call to the next. The driver caches its parse of a
    statement only below 4 KiB of SQL; a bulk write's `IN` list of 100 ids was parsed in Python each time."""
    return _member_of(column, dialect, key=None, value=list(values))


def one_of_parameter(column: sa.ColumnElement[Any], name: str, dialect: str) -> sa.ColumnElement[bool]:
    """`one_of` for a statement built once: the values are bound at execution, under `name`."""
    return _member_of(column, dialect, key=name)


def _member_of(column: sa.ColumnElement[Any], dialect: str, **parameter: Any) -> sa.ColumnElement[bool]:
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(type_=postgresql.ARRAY(column.type), **parameter))
    return column.in_(sa.bindparam(expanding=True, **parameter))
