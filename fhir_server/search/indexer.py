"""Write side of search: keep the index tables equal to the current version of each resource.

The repository calls `replace_many` inside its write transaction, so index rows commit or roll back
with the resource version they describe (a transaction Bundle's creates may hand it rows computed before
the transaction began, see `Repository.index_rows`). Rows of a resource are
replaced wholesale: deleting and re-inserting a few dozen rows costs less than diffing them, and there
is no way to leave stale rows behind.

Rows are tuples in column order and go straight to the driver: one `executemany` per table on
SQLite; on PostgreSQL, where each statement is a round trip, one DELETE for every table and one INSERT
for the few rows of a single write, binary COPY per table for bulk writes. Building a dict and a bound parameter
set per row through the SQL layer used to cost more than extracting the values.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import BigInteger, Connection, Float, Integer, String, Table, delete

from .extract import EXTRACTORS, Emitted, Row, composite, reference, token
from .fastpath import Typed
from .registry import PlanItem, SearchParameters
from .tables import INDEX_TABLES

log = logging.getLogger(__name__)

_COLUMNS = {kind: [c.name for c in table.columns] for kind, table in INDEX_TABLES.items()}


def _binary_types(table: Table) -> list[str]:
    """PostgreSQL type names of the columns, for binary COPY: the backend then stores each value as sent
    instead of parsing its text (about 8 % less backend CPU over the pathway tick, measured 2026-12-08).
    Spelled out because psycopg needs plain type names, not the DDL (`TEXT COLLATE "C"`, `VARCHAR(64)`)."""
    names = []
    for column in table.columns:
        kind = column.type
        if isinstance(kind, BigInteger):
            names.append("int8")
        elif isinstance(kind, Integer):
            names.append("int4")
        elif isinstance(kind, Float):
            names.append("float8")
        elif isinstance(kind, String):
            names.append("text")
        else:
            raise TypeError(f"no binary COPY type for {table.name}.{column.name} ({kind!r})")
    return names


_BINARY_TYPES = {kind: _binary_types(table) for kind, table in INDEX_TABLES.items()}


class SearchIndexer:
    def __init__(self, params: SearchParameters, *, base_url: str = "") -> None:
        """`base_url`: the server's FHIR base; absolute references to it are indexed as local ones, so
        chains and includes follow them."""
        self.params = params
        self.base_url = base_url.rstrip("/")

    def rows(self, res_type: str, resource: dict[str, Any]) -> dict[str, list[Row]]:
        """Index rows of one resource by table kind, deduplicated (without `res_pk`)."""
        emitted: list[Emitted] = []
        for item in self.params.plan(res_type).relevant(resource):
            emitted += self.item_rows(item, res_type, resource)
        by_table: dict[str, list[Row]] = {kind: [] for kind in INDEX_TABLES}
        for kind, row in dict.fromkeys(emitted):
            by_table[kind].append(row)
        return by_table

    def item_rows(self, item: PlanItem, res_type: str, resource: dict[str, Any],
                  values: list[Typed] | None = None) -> list[Emitted]:
        """The rows of one parameter of `resource`, from `values` when given (the tests pass the FHIRPath
        engine's), else from the compiled paths."""
        param = item.param
        if param.type == "composite":
            return composite.rows(self.params, param, res_type, resource)
        if values is None:
            if item.typed is not None:
                values = item.typed(resource)
            else:
                start = [(resource, res_type)]
                values = [typed for path in item.fast for typed in path.evaluate(start)]
            for slow in item.slow:
                values.extend(self.params.guarded(slow, resource, param))
        if not values:
            return []
        if param.type == "reference":
            return reference.rows(item.hash_type, item.key, values, self.base_url)
        if item.code_system:
            return token.rows(item.hash_type, item.key, values, item.code_system)
        return EXTRACTORS[param.type](item.hash_type, item.key, values)

    def replace_many(self, conn: Connection, items: list[tuple[int, str, dict[str, Any] | None]], *,
                     fresh: Collection[int] = (), known: Mapping[int, dict[str, list[Row]]] | None = None) -> None:
        """Make the rows of each resource row `pk` describe its `resource` (None: deleted, no rows), one
        statement per table. `fresh` lists the pks of rows created in this transaction (creates), whose
        old rows need not be looked for; a resource at version 1 is fresh too, its row has never been
        indexed before. `known`: rows already computed from the content being stored (`rows`), by pk."""
        if not items:
            return
        skip = set(fresh)
        pks = [pk for pk, _, resource in items if pk not in skip and not _first_version(resource)]
        inserts: dict[str, list[Row]] = {kind: [] for kind in INDEX_TABLES}
        for pk, res_type, resource in items:
            if resource is None:
                continue
            computed = known.get(pk) if known else None
            for kind, rows in (self.rows(res_type, resource) if computed is None else computed).items():
                inserts[kind].extend((pk, *row) for row in rows)
        if conn.dialect.name == "postgresql":
            _replace_postgresql(conn, pks, inserts)
            return
        for kind, table in INDEX_TABLES.items():
            for start in range(0, len(pks), 500):  # nothing to do for a transaction of creates
                chunk = pks[start : start + 500]
                conn.execute(delete(table).where(table.c.res_pk.in_(chunk)))
            if inserts[kind]:
                _insert_sqlite(conn, kind, inserts[kind])


def _first_version(resource: dict[str, Any] | None) -> bool:
    meta = resource.get("meta") if resource is not None else None
    return isinstance(meta, dict) and meta.get("versionId") == "1"


# Up to this many rows in all, PostgreSQL gets the rows of every table in one INSERT statement; more go
# by COPY, one per table. A COPY costs three round trips (start, data, end), which outweighs its speed for
# the few rows of a single resource written by a listener or an update. Beyond a few dozen rows the VALUES
# statement costs more than the trips: the driver splits its placeholders in Python (uncached past 4 KiB
# of SQL) and the server plans it afresh — 1.27 ms of client CPU for the 110 rows of a transaction's
# AuditEvent against 0.12 ms by COPY, measured on 2026-12-07.
_ONE_STATEMENT_ROWS = 48

# One DELETE for every table: a single round trip instead of one per table (most resources have rows in
# three or four of them, but finding out which would cost the same trip).
_DELETE_ALL = "WITH " + ", ".join(
    f"d_{kind} AS (DELETE FROM {table.name} WHERE res_pk = ANY(%(pks)s))" for kind, table in INDEX_TABLES.items()
    if kind != "reference") + f" DELETE FROM {INDEX_TABLES['reference'].name} WHERE res_pk = ANY(%(pks)s)"


def _replace_postgresql(conn: Connection, pks: list[int], inserts: dict[str, list[Row]]) -> None:
    """Index writes in as few round trips as the rows allow: the database waits, not the CPU, dominate
    single-resource writes on PostgreSQL (a triage writing five resources spent 40 % of its time there)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if pks:
            cursor.execute(_DELETE_ALL, {"pks": pks})
        filled = [kind for kind in INDEX_TABLES if inserts[kind]]
        if sum(len(inserts[kind]) for kind in filled) <= _ONE_STATEMENT_ROWS:
            if filled:
                _insert_one_statement(cursor, filled, inserts)
            return
        for kind in filled:
            columns = ", ".join(_COLUMNS[kind])
            with cursor.copy(f"COPY {INDEX_TABLES[kind].name} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(_BINARY_TYPES[kind])
                for row in inserts[kind]:
                    copy.write_row(row)
    finally:
        cursor.close()


def _insert_one_statement(cursor: Any, kinds: list[str], inserts: dict[str, list[Row]]) -> None:
    """The rows of several tables as data-modifying CTEs of one statement (distinct tables, so the parts
    cannot see or conflict with each other)."""
    parts = []
    params: list[Any] = []
    for kind in kinds:
        placeholder = "(" + ", ".join("%s" for _ in _COLUMNS[kind]) + ")"
        rows = inserts[kind]
        parts.append(f"INSERT INTO {INDEX_TABLES[kind].name} ({', '.join(_COLUMNS[kind])}) VALUES "
                     + ", ".join(placeholder for _ in rows))
        for row in rows:
            params.extend(row)
    *first, last = parts
    sql = ("WITH " + ", ".join(f"i{n} AS ({part})" for n, part in enumerate(first)) + " " if first else "") + last
    cursor.execute(sql, params, prepare=False)


def _insert_sqlite(conn: Connection, kind: str, rows: list[Row]) -> None:
    columns = _COLUMNS[kind]
    placeholders = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {INDEX_TABLES[kind].name} ({', '.join(columns)}) VALUES ({placeholders})",
                         rows)
