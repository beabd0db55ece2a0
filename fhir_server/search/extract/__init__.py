"""Write side: typed FHIRPath results → index rows, one module per parameter type.

Every extractor has the same signature, `rows(hash_type, key, values)`, and returns (table kind, row)
pairs (see `rows.py`); the row carries the hashes and the values, the indexer adds `res_pk`.
An extractor may feed another table than its own (references feed the token table for
`:identifier`), which is why the table kind travels with each row.
"""

from __future__ import annotations

from collections.abc import Callable

from ..fastpath import Typed
from . import date, number, quantity, reference, string, token, uri
from .rows import Emitted, Row

__all__ = ["EXTRACTORS", "Emitted", "Extractor", "Row"]

Extractor = Callable[[str, str, list[Typed]], list[Emitted]]

EXTRACTORS: dict[str, Extractor] = {
    "token": token.rows,
    "string": string.rows,
    "date": date.rows,
    "number": number.rows,
    "quantity": quantity.rows,
    "uri": uri.rows,
    "reference": reference.rows,
}
