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
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(values)
