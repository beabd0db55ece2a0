"""Searches: query string → SQL → searchset Bundle; and `find` for conditional operations.

The engine only orchestrates: `parse` reads the query, `conditions` turns clauses into SQL,
`sorting` orders and pages, `include` adds referenced resources, `subsetting` applies `_summary` and
`_elements`. Unknown parameters are an error with `Prefer: handling=strict` and otherwise dropped,
reported in an OperationOutcome entry and left out of the self link, as the spec says.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    TextClause,
    and_,
    bindparam,
    false,
    func,
    or_,
    select,
    text,
    true,
)

from fhir_server.errors import BadRequest, Issue
from fhir_server.limits import page_size
from fhir_server.settings import Settings
from fhir_server.store.tables import resource

from . import include
from .conditions import (
    ConditionBuilder,
    Lookup,
    Term,
    UnknownParameter,
    as_condition,
    combine,
    combine_for_all,
    split_driver,
    type_filter,
)
from .include import Found, IncludeResolver
from .parse import (
    RESULT_PARAMS,
    Clause,
    SearchRequest,
    parse_clause,
    parse_pairs,
    parse_request,
    split_unescaped,
    unescape,
)
from .predicates import QueryContext, RowFilter, target_for
from .registry import SearchParameters
from .sorting import Cursor, SortKey, after, order_by, sort_keys
from .subsetting import Subsetter
from .tables import idx_token

_RESOURCE_LEVEL = "Resource"


class SearchEngine:
    def __init__(self, params: SearchParameters, db_dialect: str, settings: Settings | None = None) -> None:
        self.params = params
        self.dialect = db_dialect
        self.settings = settings or Settings()
        self.includes = IncludeResolver(params, self.settings.max_include_rounds, self.settings.max_included_resources)
        self.subsetter = Subsetter(params.packages)

    def _context(self, base_url: str | None = None, visible: RowFilter | None = None,
                 members: Sequence[str] | None = None) -> QueryContext:
        return QueryContext(self.dialect, base_url or self.settings.fhir_base, time.time_ns() // 1000, visible,
                            None if members is None else tuple(members))

    def _check_type(self, res_type: str) -> None:
        if res_type not in self.params.resource_types():
            raise BadRequest(f"Unknown resource type '{res_type}'", code="not-supported")

    # -- conditional operations --------------------------------------------------------------------

    def find(self, conn: Connection, res_type: str, query: str) -> list[tuple[int, str]]:
        """Live resources of `res_type` matching a conditional URL's query, by pk. Any parameter that is
        unknown, unsupported or malformed is an error: guessing would update the wrong resource."""
        self._check_type(res_type)
        pairs = parse_pairs(query.lstrip("?"))
        fast = self._identifier_lookup(conn, res_type, pairs)
        if fast is not None:
            return fast
        builder = ConditionBuilder(self.params, self._context())
        terms: list[Term] = []
        for name, value in pairs:
            base = name.split(":", 1)[0]
            if base in ("_format", "_pretty"):
                continue
            if base in RESULT_PARAMS:
                raise BadRequest(f"Parameter '{name}' is not allowed in a conditional request", code="invalid")
            if value == "":
                continue
            terms.append(builder.clause(res_type, parse_clause(name, value)))
        if not terms:
            raise BadRequest("A conditional request needs at least one search parameter", code="invalid")
        conditions = combine_for_all(resource.c.pk, terms)
        rows = conn.execute(
            select(resource.c.pk, resource.c.res_id)
            .where(type_filter(resource.c.res_type, res_type, self.dialect, conditions), resource.c.deleted == false(),
                   *conditions)
            .order_by(resource.c.pk)
        )
        return [(row.pk, row.res_id) for row in rows]

    def find_many(self, conn: Connection, res_type: str, queries: Sequence[str]) -> dict[str, list[tuple[int, str]]]:
        """`find` for several conditional URLs of one type at once (a transaction Bundle's entries): the
        `param=system|value` ones are read together, by one statement, the others one by one."""
        self._check_type(res_type)
        keys: dict[tuple[int, int], list[str]] = {}
        out: dict[str, list[tuple[int, str]]] = {}
        for query in dict.fromkeys(queries):
            key = self._identifier_key(res_type, parse_pairs(query.lstrip("?")))
            if key is None:
                out[query] = self.find(conn, res_type, query)
            else:
                keys.setdefault(key, []).append(query)
                out[query] = []
        if keys:
            values = sorted({v for v, _ in keys})
            rows = conn.execute(self._by_token_hashes, {"v": values, "t": res_type, "d": False})
            for row in rows:
                for query in keys.get((row.v, row.s), []):
                    out[query].append((row.pk, row.res_id))
        return out

    def _identifier_key(self, res_type: str, pairs: list[tuple[str, str]]) -> tuple[int, int] | None:
        """The index hashes (value, system) that `Type?param=system|value` on one token parameter (the
        criteria of nearly every conditional write; the DPI adapter sends several per message) is read
        by; None for any other shape of query (the general path decides)."""
        if len(pairs) != 1:
            return None
        name, value = pairs[0]
        if not name or not name[0].isalpha() or any(c in name for c in ":."):
            return None
        param = self.params.get(res_type, name)
        if param is None or not param.supported or not param.indexed or param.type != "token":
            return None
        parts = split_unescaped(value, "|")
        if len(parts) != 2:
            return None
        system, token = unescape(parts[0]), unescape(parts[1])
        target = target_for(self.params, res_type, param)
        if not system or not token or target.narrowing(idx_token):
            return None
        return int(target.hash(token)), int(target.hash(system, ""))

    def _identifier_lookup(self, conn: Connection, res_type: str, pairs: list[tuple[str, str]]
                           ) -> list[tuple[int, str]] | None:
        """The same rows as the general path for an identifier query (`_identifier_key`), read by one
        prepared statement on the token value index instead of building and compiling a query each time."""
        key = self._identifier_key(res_type, pairs)
        if key is None:
            return None
        rows = conn.execute(self._by_token_hash, {"v": key[0], "s": key[1], "t": res_type, "d": False})
        return [(row.pk, row.res_id) for row in rows]

    def token_values(self, conn: Connection, res_type: str, name: str, system: str) -> set[str]:
        """Every code of `system` that live resources of `res_type` carry in token parameter `name`, read
        from the index in one statement: a scheduled job checks thousands of business identifiers at
        once instead of one conditional lookup each."""
        param = self.params.get(res_type, name)
        if param is None or not param.indexed or param.type != "token":
            raise ValueError(f"{res_type}.{name} is not an indexed token parameter")
        target = target_for(self.params, res_type, param)
        rows = conn.execute(
            select(idx_token.c.value).join(resource, resource.c.pk == idx_token.c.res_pk)
            .where(idx_token.c.hash_sys == target.hash(system, ""), idx_token.c.system == system,
                   *target.narrowing(idx_token), resource.c.res_type == res_type, resource.c.deleted == false()))
        return {row.value for row in rows}

    @functools.cached_property
    def _by_token_hash(self) -> TextClause:
        # On SQLite the type test must not be usable as an index (see conditions.type_filter).
        res_type = "r.res_type || ''" if self.dialect == "sqlite" else "r.res_type"
        return text(f"SELECT r.pk, r.res_id FROM {resource.name} r WHERE r.pk IN "
                    f"(SELECT t.res_pk FROM {idx_token.name} t WHERE t.hash_value = :v AND t.hash_sys = :s) "
                    f"AND {res_type} = :t AND r.deleted = :d ORDER BY r.pk")

    @functools.cached_property
    def _by_token_hashes(self) -> TextClause:
        res_type = "r.res_type || ''" if self.dialect == "sqlite" else "r.res_type"
        return text(f"SELECT DISTINCT t.hash_value AS v, t.hash_sys AS s, r.pk, r.res_id FROM {idx_token.name} t "
                    f"JOIN {resource.name} r ON r.pk = t.res_pk WHERE t.hash_value IN :v "
                    f"AND {res_type} = :t AND r.deleted = :d ORDER BY r.pk").bindparams(bindparam("v", expanding=True))

    # -- search ------------------------------------------------------------------------------------

    def search(
        self,
        conn: Connection,
        res_type: str | None,
        query: str | Sequence[tuple[str, str]],
        *,
        base_url: str | None = None,
        strict: bool = False,
        visible: RowFilter | None = None,
        members: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """A searchset Bundle for a type-level (`res_type`) or system-level (None) search. `visible` limits
        every row read (matches, chains, `_has`, includes, totals) to what the caller may see; `members`,
        given when that reach is the care teams naming these members, lets string clauses on Patients
        scan only those teams' patients."""
        pairs = parse_pairs(query.lstrip("?")) if isinstance(query, str) else list(query)
        request = parse_request(pairs)
        base = (base_url or self.settings.fhir_base).rstrip("/")
        res_types = self._types(res_type, request)
        include.check(self.params, request.includes, res_types or [])
        ctx = self._context(base, visible, members)
        builder = ConditionBuilder(self.params, ctx)
        terms, used, issues = self._conditions(builder, res_types, request.clauses, strict)
        conditions = combine(resource.c.pk, terms)
        row_filters: list[ColumnElement[bool]] = [resource.c.deleted == false()]
        if res_types:
            row_filters.append(resource.c.res_type.in_(res_types) if len(res_types) > 1
                               else type_filter(resource.c.res_type, res_types[0], self.dialect, conditions))
        row_filters += ctx.visibility(resource, res_types[0] if res_types and len(res_types) == 1 else None)
        where = [*row_filters, *conditions]
        keys = sort_keys(self.params, res_types or [_RESOURCE_LEVEL], request.sort, resource, self.dialect)
        stream = None
        if not keys:
            driver, others = split_driver(resource.c.pk, terms)
            # SQLite: stream an index already in pk order. PostgreSQL plans a single hash equality
            # well by itself (merge on pk order); the others get the sort-then-probe form.
            if driver is not None and driver.ordered == (self.dialect == "sqlite"):
                stream = (driver, [*row_filters, *others])
        cursor = Cursor.decode(request.cursor, keys) if request.cursor else None
        count, limited = self._page_size(request, strict)
        issues = [*limited, *issues]

        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "meta": {"lastUpdated": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")},
            "type": "searchset",
        }
        link_base = f"{base}/{res_type}" if res_type else base
        self_pairs = [*used, *request.result_pairs]
        if request.summary == "count" or count == 0:
            bundle["total"] = self._count(conn, where)
            bundle["link"] = [_link("self", link_base, self_pairs)]
            bundle["entry"] = _outcome_entries(issues)
            if not bundle["entry"]:
                del bundle["entry"]
            return bundle

        rows, has_more = self._page(conn, where, keys, cursor, count, stream)
        links = _paging_links(link_base, self_pairs, request.cursor, cursor, keys, rows, has_more)
        if request.total in ("accurate", "estimate"):
            bundle["total"] = self._count(conn, where)
        elif request.total is None and cursor is None and not has_more:
            bundle["total"] = len(rows)
        bundle["link"] = links

        matches = [Found(r.pk, r.res_type, r.res_id, r.content) for r in rows]
        included, cut = self.includes.resolve(conn, matches, request.includes, visible, strict=strict)
        issues.extend(cut)
        entries = [self._entry(base, m, "match", request) for m in matches]
        entries.extend(self._entry(base, f, "include", None) for f in included)
        entries.extend(_outcome_entries(issues))
        if entries:
            bundle["entry"] = entries
        return bundle

    def search_url(self, conn: Connection, res_type: str | None, query: str, base_url: str | None = None,
                   *, strict: bool = False, visible: RowFilter | None = None,
                   members: Sequence[str] | None = None) -> dict[str, Any]:
        """Search from a URL's query string (batch/transaction GET entries, subscriptions)."""
        return self.search(conn, res_type, query, base_url=base_url, strict=strict, visible=visible,
                           members=members)

    def _types(self, res_type: str | None, request: SearchRequest) -> list[str] | None:
        """The resource types searched, None for every type (system search without `_type`)."""
        if res_type is not None:
            self._check_type(res_type)
            if request.types and request.types != [res_type]:
                raise BadRequest("_type is only allowed in system-level searches", code="invalid")
            return [res_type]
        if not request.types:
            return None
        for name in request.types:
            self._check_type(name)
        return list(dict.fromkeys(request.types))

    def _conditions(
        self, builder: ConditionBuilder, res_types: list[str] | None, clauses: list[Clause], strict: bool,
    ) -> tuple[list[Term], list[tuple[str, str]], list[Issue]]:
        terms: list[Term] = []
        used: list[tuple[str, str]] = []
        issues: list[Issue] = []
        pk = resource.c.pk
        for clause in clauses:
            try:
                if res_types is None:
                    terms.append(builder.clause(_RESOURCE_LEVEL, clause))
                elif len(res_types) == 1:
                    terms.append(builder.clause(res_types[0], clause))
                else:
                    terms.append(or_(*(and_(resource.c.res_type == t, as_condition(pk, builder.clause(t, clause)))
                                       for t in res_types)))
            except UnknownParameter as exc:
                if strict:
                    raise
                issues.append(Issue("warning", "not-supported", f"{exc.issues[0].diagnostics}: ignored",
                                    (clause.name,)))
                continue
            used.append((clause.name, clause.raw_value))
        return terms, used, issues

    def _page_size(self, request: SearchRequest, strict: bool) -> tuple[int, list[Issue]]:
        if request.count is None:
            return self.settings.default_page_size, []
        count, issue = page_size(request.count, self.settings.max_page_size, strict)
        if issue is None:
            return count, []
        # The links carry the page size served, so following them does not repeat the warning.
        request.result_pairs = [(n, str(count) if n == "_count" else v) for n, v in request.result_pairs]
        return count, [issue]

    def _count(self, conn: Connection, where: list[ColumnElement[bool]]) -> int:
        return int(conn.execute(select(func.count()).select_from(resource).where(*where)).scalar_one())

    def _page(self, conn: Connection, where: list[ColumnElement[bool]], keys: list[SortKey],
              cursor: Cursor | None, count: int, stream: tuple[Lookup, list[ColumnElement[bool]]] | None = None,
              ) -> tuple[list[Any], bool]:
        """One page in sort order. `stream` (SQLite, default order, a driving lookup that is one hash
        equality): read its index rows in pk order and stop at the page's end, instead of materialising
        every match of `pk IN (…)` first; a broad `status=active` then costs one page, not 90,000 rows."""
        forward = cursor is None or cursor.forward
        columns = [resource.c.pk, resource.c.res_type, resource.c.res_id, resource.c.content]
        columns += [key.expression.label(f"sort_{i}") for i, key in enumerate(keys)]
        if stream is not None and self.dialect == "postgresql":
            query = self._lateral_page(stream, keys, cursor, count, forward)
        elif stream is not None:
            driver, others = stream
            pk = driver.table.c.res_pk
            conditions = [driver.where, *others]
            if cursor is not None:
                conditions.append(after(keys, pk, cursor))
            query = (select(*columns).select_from(driver.table.join(resource, resource.c.pk == pk))
                     .where(*conditions).group_by(pk).order_by(pk.asc() if forward else pk.desc()).limit(count + 1))
        else:
            conditions = list(where)
            if cursor is not None:
                conditions.append(after(keys, resource.c.pk, cursor))
            query = (select(*columns).where(*conditions).order_by(*order_by(keys, resource.c.pk, forward))
                     .limit(count + 1))
        rows = list(conn.execute(query))
        has_more = len(rows) > count
        rows = rows[:count]
        if not forward:
            rows.reverse()
        return rows, has_more

    @staticmethod
    def _lateral_page(stream: tuple[Lookup, list[ColumnElement[bool]]], keys: list[SortKey], cursor: Cursor | None,
                      count: int, forward: bool) -> Select[Any]:
        """PostgreSQL, default order: sort the driving lookup's pks (integers only, cheap), then fetch and
        check resources one by one in that order until the page is full. Planned as a join, the
        database would fetch every candidate row (3,000 Patients for `name=dur`) before sorting."""
        driver, others = stream
        candidates = driver.pks().subquery("candidate")
        pk = candidates.c.res_pk
        ordered = select(pk).distinct()
        if cursor is not None:
            ordered = ordered.where(after(keys, pk, cursor))
        ordered_sub = ordered.order_by(pk.asc() if forward else pk.desc()).subquery("page_pk")
        row = (select(resource.c.pk, resource.c.res_type, resource.c.res_id, resource.c.content)
               .where(resource.c.pk == ordered_sub.c.res_pk, *others).lateral("found"))
        return (select(row.c.pk, row.c.res_type, row.c.res_id, row.c.content)
                .select_from(ordered_sub.join(row, true()))
                .order_by(ordered_sub.c.res_pk.asc() if forward else ordered_sub.c.res_pk.desc())
                .limit(count + 1))

    def _entry(self, base: str, found: Found, mode: str, request: SearchRequest | None) -> dict[str, Any]:
        content = found.content
        if request is not None:
            if request.summary and request.summary != "false":
                content = self.subsetter.summary(content, request.summary)
            elif request.elements:
                content = self.subsetter.elements(content, request.elements)
        return {
            "fullUrl": f"{base}/{found.res_type}/{found.res_id}",
            "resource": content,
            "search": {"mode": mode},
        }


def _paging_links(base: str, pairs: list[tuple[str, str]], token: str | None, cursor: Cursor | None,
                  keys: list[SortKey], rows: list[Any], has_more: bool) -> list[dict[str, str]]:
    """self, and next/previous as far as rows exist that way: each link carries the cursor of the row it
    continues from, so following it later still lands next to that row whatever changed meanwhile."""
    forward = cursor is None or cursor.forward
    links = [_link("self", base, pairs + ([("_cursor", token)] if token else []))]
    if rows:
        if has_more or not forward:
            links.append(_link("next", base, pairs + [("_cursor", _cursor(keys, rows[-1], True))]))
        if cursor is not None and (has_more or forward):
            links.append(_link("previous", base, pairs + [("_cursor", _cursor(keys, rows[0], False))]))
    elif cursor is not None:
        # Past the end (e.g. the last rows were deleted): point back to the rows before the cursor.
        back = Cursor(not cursor.forward, True, cursor.values, cursor.pk).encode()
        links.append(_link("previous" if cursor.forward else "next", base, pairs + [("_cursor", back)]))
    return links


def _cursor(keys: list[SortKey], row: Any, forward: bool) -> str:
    values = tuple(getattr(row, f"sort_{i}") for i in range(len(keys)))
    return Cursor(forward, False, values, row.pk).encode()


def _link(relation: str, base: str, pairs: list[tuple[str, str]]) -> dict[str, str]:
    return {"relation": relation, "url": f"{base}?{urlencode(pairs)}" if pairs else base}


def _outcome_entries(issues: list[Issue]) -> list[dict[str, Any]]:
    if not issues:
        return []
    return [{
        "resource": {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]},
        "search": {"mode": "outcome"},
    }]
