"""History interactions (instance, type, system) as `history` Bundles.

Paging is by offset inside a frozen window: the first page fixes `_before` to the moment of the
request, and versions are append-only, so every later page link sees exactly the same list even
while writes continue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy import Connection

from .errors import BadRequest
from .limits import page_size
from .resources import etag, instant, now_ms
from .search.predicates import RowFilter
from .search_params import parse_instant
from .store.tables import resource_version


@dataclass(frozen=True)
class HistoryQuery:
    res_type: str | None
    res_id: str | None
    since: datetime | None
    before: datetime
    count: int
    offset: int

    @classmethod
    def parse(
        cls, res_type: str | None, res_id: str | None, params: list[tuple[str, str]], *, default_count: int,
        max_count: int, strict: bool = False,
    ) -> HistoryQuery:
        """A `_count` over `max_count` is cut down to it (400 under `strict`). The cut shows only in the
        links' `_count`: R4 gives a history Bundle no place for an OperationOutcome (every entry must
        carry request and response, bdl-3/bdl-4), unlike a searchset's `search.mode=outcome` entry."""
        since = before = None
        count, offset = default_count, 0
        for name, value in params:
            if name == "_since":
                since = parse_instant(value, "_since")
            elif name == "_before":
                before = parse_instant(value, "_before")
            elif name == "_count":
                count = _non_negative_int(value, "_count")
            elif name == "_offset":
                offset = _non_negative_int(value, "_offset")
            elif name in ("_format", "_pretty", "_at", "_list"):
                if name in ("_at", "_list"):
                    raise BadRequest(f"History parameter {name} is not supported", code="not-supported",
                                     expression=(name,))
            else:
                raise BadRequest(f"Unknown history parameter {name!r}", code="not-supported", expression=(name,))
        served, _ = page_size(count, max_count, strict)
        return cls(res_type, res_id, since, before or now_ms(), served, offset)

    def link_params(self, offset: int) -> str:
        params: list[tuple[str, str]] = []
        if self.since is not None:
            params.append(("_since", instant(self.since)))
        params += [("_before", instant(self.before)), ("_count", str(self.count)), ("_offset", str(offset))]
        return urlencode(params)


def _non_negative_int(value: str, name: str) -> int:
    if not value.isdigit():
        raise BadRequest(f"{name} must be a non-negative integer, got {value!r}", expression=(name,))
    return int(value)


def history_bundle(conn: Connection, query: HistoryQuery, base: str, visible: RowFilter | None = None
                   ) -> dict[str, Any]:
    """`visible` keeps the versions of resources the caller may not see out of the list and the total."""
    v = resource_version.c
    where = [v.last_updated <= query.before]
    if visible is not None:
        condition = visible(v.res_pk, v.res_type, v.res_id, query.res_type, "read" if query.res_id else "search")
        if condition is not None:
            where.append(condition)
    if query.res_type:
        where.append(v.res_type == query.res_type)
    if query.res_id:
        where.append(v.res_id == query.res_id)
    if query.since is not None:
        where.append(v.last_updated >= query.since)
    total = conn.execute(sa.select(sa.func.count()).select_from(resource_version).where(*where)).scalar_one()
    rows = conn.execute(
        sa.select(v.res_type, v.res_id, v.version_id, v.last_updated, v.method, v.deleted, v.content)
        .where(*where)
        .order_by(v.last_updated.desc(), v.res_pk.desc(), v.version_id.desc())
        .limit(query.count)
        .offset(query.offset)
    ).all()
    path = "/".join(p for p in (query.res_type, query.res_id) if p)
    url = f"{base}/{path}/_history" if path else f"{base}/_history"
    links = [{"relation": "self", "url": f"{url}?{query.link_params(query.offset)}"}]
    if query.offset + query.count < total and query.count:
        links.append({"relation": "next", "url": f"{url}?{query.link_params(query.offset + query.count)}"})
    if query.offset > 0:
        links.append({"relation": "previous", "url": f"{url}?{query.link_params(max(0, query.offset - query.count))}"})
    entries = []
    for row in rows:
        full_url = f"{base}/{row.res_type}/{row.res_id}"
        entry: dict[str, Any] = {"fullUrl": full_url}
        if row.content is not None:
            entry["resource"] = row.content
        if row.method == "DELETE":
            request_url = f"{row.res_type}/{row.res_id}"
        elif row.method == "POST":
            request_url = row.res_type
        else:
            request_url = f"{row.res_type}/{row.res_id}"
        entry["request"] = {"method": row.method, "url": request_url}
        entry["response"] = {
            "status": "201 Created" if row.version_id == 1 and row.method == "POST" else
            ("204 No Content" if row.deleted else "200 OK"),
            "etag": etag(row.version_id),
            "lastModified": instant(row.last_updated),
        }
        entries.append(entry)
    return {"resourceType": "Bundle", "type": "history", "total": total, "link": links, "entry": entries}
