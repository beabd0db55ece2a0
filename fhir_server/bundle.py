"""Batch and transaction Bundles.

A transaction runs in one database transaction: every entry commits or none does. Entries are
processed in the order the spec fixes (DELETE, POST, PUT/PATCH, GET/HEAD) but answered in request
order. Before any write, ids are assigned to created resources and every reference to an entry's
`fullUrl` (typically `urn:uuid:`) or to a conditional URL (`Patient?identifier=…`) is rewritten to
`Type/id`; a conditional reference is first matched against the entries of the same Bundle, so an
adapter can create a Patient and reference it by identifier in one transaction.

What needs no database (ids, references between entries, checking and indexing the bodies of plain
creates) is done before the database transaction when the Bundle allows it (`_prepare`): on SQLite a
write transaction holds the only write lock, and Python work done under it is work no other request
can overlap with.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson
from sqlalchemy import Connection

from .errors import BadRequest, FhirError, Issue, PayloadTooLarge, PreconditionFailed, operation_outcome
from .http import Prefer
from .patching import applier_for
from .repository import IndexRows, Stored, WriteResult
from .resources import etag, instant, new_id, normalise_query
from .security.context import current_access, current_filter, current_members
from .security.scopes import Interaction
from .services import Services

T = TypeVar("T")

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


@dataclass
class Entry:
    index: int
    method: str
    url: str
    res_type: str
    res_id: str | None
    version: str | None
    query: str | None
    full_url: str | None
    resource: Any
    if_none_exist: str | None
    if_match: str | None
    # Filled while processing a transaction.
    assigned_id: str | None = None
    # A conditional PUT's match, resolved once before references are rewritten.
    match: tuple[int, str] | None = None
    matched: bool = False
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"Bundle.entry[{self.index}]"


@dataclass
class Prepared:
    """What `_prepare` settled before the transaction, by entry index."""

    targets: dict[str, str]
    rewritten: set[int] = field(default_factory=set)
    index_rows: dict[int, IndexRows] = field(default_factory=dict)  # plain creates, checked


class _NeedsDatabase(Exception):
    """A reference that only a search can resolve: preparation stops, the transaction goes on."""


class BundleProcessor:
    def __init__(self, svc: Services, base: str, prefer: Prefer) -> None:
        self.svc = svc
        self.repo = svc.repository
        self.base = base.rstrip("/")
        self.prefer = prefer

    # -- parsing -----------------------------------------------------------------------------

    def parse(self, bundle: Any) -> tuple[str, list[Entry]]:
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise BadRequest("POST to the base URL takes a Bundle of type batch or transaction",
                             expression=("resourceType",))
        kind = bundle.get("type")
        if kind not in ("batch", "transaction"):
            raise BadRequest(f"Bundle.type must be batch or transaction, got {kind!r}", expression=("Bundle.type",))
        raw_entries = bundle.get("entry", [])
        if not isinstance(raw_entries, list):
            raise BadRequest("Bundle.entry must be an array", expression=("Bundle.entry",))
        limit = self.svc.settings.max_bundle_entries
        if len(raw_entries) > limit:
            raise PayloadTooLarge(f"The Bundle has {len(raw_entries)} entries; the limit is {limit} "
                                  "(ONCOLINK_MAX_BUNDLE_ENTRIES)", ("Bundle.entry",))
        return kind, [self._parse_entry(i, raw) for i, raw in enumerate(raw_entries)]

    def _parse_entry(self, index: int, raw: Any) -> Entry:
        where = f"Bundle.entry[{index}]"
        if not isinstance(raw, dict):
            raise BadRequest(f"{where} must be an object", expression=(where,))
        request = raw.get("request")
        if not isinstance(request, dict):
            raise BadRequest(f"{where}.request is required in a batch or transaction", code="required",
                             expression=(f"{where}.request",))
        method = request.get("method")
        url = request.get("url")
        if method not in _ORDER:
            raise BadRequest(f"{where}.request.method {method!r} is not one of GET, HEAD, POST, PUT, PATCH, DELETE",
                             expression=(f"{where}.request.method",))
        if not isinstance(url, str) or not url:
            raise BadRequest(f"{where}.request.url is required", code="required", expression=(f"{where}.request.url",))
        if url.startswith(self.base + "/"):
            url = url[len(self.base) + 1:]
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:
            raise BadRequest(f"{where}.request.url {url!r} is not on this server", expression=(f"{where}.request.url",))
        segments = [s for s in parts.path.split("/") if s]
        if not segments or segments[0] not in self.svc.validator.resource_types:
            raise BadRequest(f"{where}.request.url {url!r} does not name a known resource type",
                             expression=(f"{where}.request.url",))
        res_type = segments[0]
        res_id = segments[1] if len(segments) > 1 else None
        version = segments[3] if len(segments) == 4 and segments[2] == "_history" else None
        if len(segments) > 2 and version is None or len(segments) == 3:
            raise BadRequest(f"{where}.request.url {url!r} is not a supported interaction URL",
                             expression=(f"{where}.request.url",))
        resource = raw.get("resource")
        if method in ("POST", "PUT") and resource is None:
            raise BadRequest(f"{where}.resource is required for {method}", code="required",
                             expression=(f"{where}.resource",))
        if method in ("PUT", "DELETE", "PATCH") and res_id is None and not parts.query:
            raise BadRequest(f"{where}.request.url must name a resource id or conditional criteria for {method}",
                             expression=(f"{where}.request.url",))
        if method == "POST" and res_id is not None:
            raise BadRequest(f"{where}: POST must target a resource type, not {url!r}",
                             expression=(f"{where}.request.url",))
        full_url = raw.get("fullUrl")
        return Entry(
            index=index, method=method, url=url, res_type=res_type, res_id=res_id, version=version,
            query=parts.query or None, full_url=full_url if isinstance(full_url, str) else None,
            resource=resource, if_none_exist=request.get("ifNoneExist"), if_match=request.get("ifMatch"),
        )

    # -- entry execution ---------------------------------------------------------------------

    def _write_response(self, entry: Entry, result: WriteResult, status: int | None = None) -> dict[str, Any]:
        stored = result.stored
        if status is None:
            status = 201 if result.created else 200
        response: dict[str, Any] = {
            "status": f"{status} {'Created' if status == 201 else 'OK'}",
            "location": f"{stored.res_type}/{stored.res_id}/_history/{stored.version_id}",
            "etag": etag(stored.version_id),
            "lastModified": instant(stored.last_updated),
        }
        out: dict[str, Any] = {"fullUrl": f"{self.base}/{stored.res_type}/{stored.res_id}", "response": response}
        if self.prefer.return_ == "representation" and stored.content is not None:
            out["resource"] = stored.content
        elif self.prefer.return_ == "OperationOutcome":
            verb = "created" if result.created else ("updated" if result.changed else "unchanged")
            response["outcome"] = operation_outcome(
                [Issue("information", "informational", f"{stored.res_type}/{stored.res_id} {verb}")]
            )
        return out

    def _read_response(self, stored: Stored) -> dict[str, Any]:
        return {
            "fullUrl": f"{self.base}/{stored.res_type}/{stored.res_id}",
            "resource": stored.content,
            "response": {"status": "200 OK", "etag": etag(stored.version_id),
                         "lastModified": instant(stored.last_updated)},
        }

    def _execute(self, conn: Connection, entry: Entry) -> dict[str, Any]:
        access = current_access()
        if access is not None:
            access.require(_interaction(entry), entry.res_type)
        repo = self.repo
        if entry.method in ("GET", "HEAD"):
            if entry.res_id is None:
                repo.flush_index(conn)
                bundle = self.svc.search.search_url(conn, entry.res_type, entry.query or "", self.base,
                                                    visible=current_filter(), members=current_members())
                return {"resource": bundle, "response": {"status": "200 OK"}}
            if entry.version is not None:
                return self._read_response(repo.vread(conn, entry.res_type, entry.res_id, entry.version))
            return self._read_response(repo.read(conn, entry.res_type, entry.res_id))
        if entry.method == "DELETE":
            if entry.res_id is not None:
                result = repo.delete(conn, entry.res_type, entry.res_id, if_match=entry.if_match)
            else:
                deleted = repo.conditional_delete(conn, entry.res_type, entry.query or "")
                if deleted is None:
                    return {"response": {"status": "204 No Content"}}
                result = deleted
            return {"response": {"status": "204 No Content", "etag": etag(result.stored.version_id)}}
        if entry.method == "POST":
            result = repo.create(conn, entry.res_type, entry.resource, if_none_exist=entry.if_none_exist,
                                 res_id=entry.assigned_id)
            return self._write_response(entry, result)
        if entry.method == "PUT":
            if entry.res_id is not None:
                result = repo.update(conn, entry.res_type, entry.res_id, entry.resource, if_match=entry.if_match)
            elif entry.matched:
                body = repo.check(entry.res_type, entry.resource)
                if entry.assigned_id and "id" not in body:
                    body = {**body, "id": entry.assigned_id}
                result = repo.update_matched(conn, entry.res_type, entry.query or "", entry.match, body,
                                             if_match=entry.if_match)
            else:
                result = repo.conditional_update(conn, entry.res_type, entry.query or "", entry.resource,
                                                 if_match=entry.if_match)
            return self._write_response(entry, result)
        # PATCH: the resource is a FHIRPath Patch Parameters, or a Binary holding a JSON Patch.
        apply = self._entry_patch(entry)
        if entry.res_id is not None:
            result = repo.patch(conn, entry.res_type, entry.res_id, apply, if_match=entry.if_match)
        else:
            result = repo.conditional_patch(conn, entry.res_type, entry.query or "", apply, if_match=entry.if_match)
        return self._write_response(entry, result)

    def _entry_patch(self, entry: Entry) -> Any:
        body = entry.resource
        if isinstance(body, dict) and body.get("resourceType") == "Binary":
            try:
                document = orjson.loads(base64.b64decode(body.get("data", ""), validate=True))
            except (binascii.Error, ValueError) as exc:
                raise BadRequest(f"{entry.where}.resource: the Binary does not hold a JSON Patch ({exc})",
                                 expression=(f"{entry.where}.resource.data",)) from exc
            return applier_for("application/json-patch+json", document, self.svc.packages)
        return applier_for("application/fhir+json", body, self.svc.packages)

    # -- transaction -------------------------------------------------------------------------

    def _check_duplicates(self, entries: list[Entry]) -> None:
        seen: dict[str, int] = {}
        for entry in entries:
            if entry.method in ("GET", "HEAD"):
                continue
            key = f"{entry.res_type}/{entry.res_id}" if entry.res_id else (
                f"{entry.res_type}?{normalise_query(entry.query)}" if entry.query else None)
            if key is None:
                continue
            if key in seen:
                raise BadRequest(
                    f"Bundle.entry[{seen[key]}] and {entry.where} both act on {key}; a transaction may touch "
                    "a resource only once", code="duplicate", expression=(entry.where,))
            seen[key] = entry.index

    def _assign_ids(self, conn: Connection | None, entries: list[Entry]) -> dict[str, str]:
        """Map each entry's fullUrl and conditional URL to the `Type/id` it will have after commit
        (`conn` None: before the transaction, where a conditional entry raises _NeedsDatabase). The
        conditional entries' criteria are matched together, before any of them is written."""
        criteria = [(e, e.if_none_exist if e.method == "POST" else e.query) for e in entries
                    if (e.method == "POST" and e.if_none_exist) or (e.method == "PUT" and e.res_id is None and e.query)]
        if criteria and conn is None:
            raise _NeedsDatabase(f"{criteria[0][0].res_type}?{criteria[0][1]}")
        found = self.repo.match_many(conn, [(e.res_type, q or "", "ifNoneExist" if e.method == "POST" else
                                             "Conditional update") for e, q in criteria]) if conn is not None else []
        matches = {id(e): match for (e, _), match in zip(criteria, found, strict=True)}
        targets: dict[str, str] = {}
        for entry in entries:
            target: str | None = None
            conditional: str | None = None
            if entry.method == "POST":
                if entry.if_none_exist:
                    conditional = f"{entry.res_type}?{normalise_query(entry.if_none_exist)}"
                    match = matches[id(entry)]
                    if match is not None:
                        target = f"{entry.res_type}/{match[1]}"
                if target is None:
                    entry.assigned_id = new_id()
                    target = f"{entry.res_type}/{entry.assigned_id}"
            elif entry.method == "PUT" and entry.res_id is not None:
                target = f"{entry.res_type}/{entry.res_id}"
            elif entry.method == "PUT" and entry.query:
                conditional = f"{entry.res_type}?{normalise_query(entry.query)}"
                match = matches[id(entry)]
                entry.match, entry.matched = match, True
                body_id = entry.resource.get("id") if isinstance(entry.resource, dict) else None
                if match is not None:
                    res_id = match[1]
                else:
                    res_id = body_id if isinstance(body_id, str) else new_id()
                    entry.assigned_id = res_id
                target = f"{entry.res_type}/{res_id}"
            if target is None:
                continue
            if entry.full_url:
                targets[entry.full_url] = target
            if conditional:
                targets[conditional] = target
        return targets

    def _rewrite(self, conn: Connection | None, entry: Entry, targets: dict[str, str]) -> None:
        """Rewrite references in place: the entry's resource was parsed for this request alone."""
        if isinstance(entry.resource, dict):
            self._rewrite_node(conn, entry, entry.resource, targets)

    def _rewrite_node(self, conn: Connection | None, entry: Entry, node: dict[str, Any] | list[Any],
                      targets: dict[str, str]) -> None:
        """Depth first, last child first (the order in which the first bad reference is the one reported).
        A recursion rather than an explicit stack: half the time on a DPI Bundle; the depth of a parsed
        body is bounded by ONCOLINK_MAX_JSON_DEPTH."""
        if type(node) is dict:
            ref = node.get("reference")
            if isinstance(ref, str):
                node["reference"] = self._resolve(conn, entry, ref, targets)
            children: Any = node.values()
        else:
            children = node
        for child in reversed([c for c in children if type(c) is dict or type(c) is list]):
            self._rewrite_node(conn, entry, child, targets)

    def _resolve(self, conn: Connection | None, entry: Entry, ref: str, targets: dict[str, str]) -> str:
        if ref in targets:
            return targets[ref]
        if ref.startswith("urn:uuid:") or ref.startswith("urn:oid:"):
            raise BadRequest(f"{entry.where}: reference {ref} is not the fullUrl of any entry in the Bundle",
                             code="not-found", expression=(f"{entry.where}.resource",))
        if "?" in ref and not ref.startswith("#") and "://" not in ref.split("?", 1)[0]:
            res_type, _, query = ref.partition("?")
            key = f"{res_type}?{normalise_query(query)}"
            if key in targets:
                return targets[key]
            if conn is None:
                raise _NeedsDatabase(ref)
            if res_type not in self.svc.validator.resource_types:
                raise BadRequest(f"{entry.where}: conditional reference {ref} names an unknown type",
                                 expression=(f"{entry.where}.resource",))
            matches = self.repo.find(conn, res_type, query)
            if len(matches) != 1:
                raise PreconditionFailed(
                    f"{entry.where}: conditional reference {ref} matches {len(matches)} resources; it must match "
                    "exactly one", code="not-found" if not matches else "multiple-matches")
            resolved = f"{res_type}/{matches[0][1]}"
            targets[key] = resolved
            return resolved
        if ref.startswith(self.base + "/"):
            return ref[len(self.base) + 1:]
        return ref

    def _prepare(self, entries: list[Entry]) -> Prepared | None:
        """Ids, reference rewriting, checks and index rows of plain creates, before the transaction; None
        when the Bundle deletes (deletes run first, and their effects are part of the transaction) or
        holds conditional entries (their ids depend on searches). A conditional reference inside a body
        stops the preparation where it is found: the transaction rewrites the rest."""
        if any(e.method == "DELETE" for e in entries):
            return None
        self._check_duplicates(entries)
        try:
            prepared = Prepared(self._assign_ids(None, entries))
        except _NeedsDatabase:
            return None
        try:
            for entry in entries:
                if entry.method in ("POST", "PUT"):
                    self._rewrite(None, entry, prepared.targets)
                    prepared.rewritten.add(entry.index)
        except _NeedsDatabase:
            return prepared
        for entry in entries:
            if entry.method == "POST" and entry.assigned_id:
                entry.resource = self._checked(entry)
                prepared.index_rows[entry.index] = self.repo.index_rows(entry.res_type, entry.resource)
        return prepared

    def _checked(self, entry: Entry) -> Any:
        # The checked body is what is stored: preparers may change it (a Subscription becomes active).
        return self._guarded_call(entry, lambda: self._check_create(entry))

    def transaction(self, conn: Connection, entries: list[Entry], prepared: Prepared | None = None
                    ) -> list[dict[str, Any]]:
        """`prepared`: what `_prepare` did already, for these entries."""
        if prepared is None:
            self._check_duplicates(entries)
            deletes = [e for e in entries if e.method == "DELETE"]
            for entry in deletes:
                entry.response = self._guarded(conn, entry)
            prepared = Prepared(self._assign_ids(conn, entries))
        for entry in entries:
            if entry.method in ("POST", "PUT") and entry.index not in prepared.rewritten:
                self._rewrite(conn, entry, prepared.targets)
        # Plain creates (no ifNoneExist match) and conditional updates that create (no match, no id in the
        # body: nothing can exist under the id just drawn) are checked one by one, then written in bulk.
        creates = [e for e in entries if _creates(e)]
        for entry in creates:
            if entry.index not in prepared.index_rows:
                entry.resource = self._checked(entry)
        for method in ("POST", "PUT"):
            batch = [e for e in creates if e.method == method]
            results = self.repo.create_many(conn, [(e.res_type, e.assigned_id or "", e.resource) for e in batch],
                                            [prepared.index_rows.get(e.index) for e in batch], method=method)
            for entry, result in zip(batch, results, strict=True):
                entry.response = self._write_response(entry, result)
        rest = [e for e in entries if e.method != "DELETE" and not _creates(e)]
        for entry in sorted(rest, key=lambda e: _ORDER[e.method]):
            entry.response = self._guarded(conn, entry)
        return [e.response for e in entries]

    def _check_create(self, entry: Entry) -> dict[str, Any]:
        access = current_access()
        if access is not None and entry.method == "PUT":  # POST creates are checked by the write guard
            access.require(_interaction(entry), entry.res_type)
        return self.repo.check(entry.res_type, entry.resource)

    def _guarded(self, conn: Connection, entry: Entry) -> dict[str, Any]:
        return self._guarded_call(entry, lambda: self._execute(conn, entry))

    @staticmethod
    def _guarded_call(entry: Entry, call: Callable[[], T]) -> T:
        """Run one entry's work, re-homing its error's expressions into the Bundle."""
        try:
            return call()
        except FhirError as exc:
            raise _rehome(exc, entry) from exc

    # -- batch -------------------------------------------------------------------------------

    def batch(self, entries: list[Entry]) -> list[dict[str, Any]]:
        responses = []
        for entry in entries:
            try:
                if entry.method in ("GET", "HEAD"):
                    with self.svc.db.read() as conn:
                        responses.append(self._execute(conn, entry))
                else:
                    with self.svc.db.write() as conn:
                        responses.append(self._execute(conn, entry))
            except FhirError as exc:
                rehomed = _rehome(exc, entry)
                responses.append({"response": {"status": str(exc.status), "outcome": rehomed.outcome()}})
        return responses

    def process(self, bundle: Any) -> dict[str, Any]:
        kind, entries = self.parse(bundle)
        if kind == "batch":
            responses = self.batch(entries)
        else:
            prepared = self._prepare(entries)
            with self.svc.db.write() as conn, self.repo.deferred_indexing(conn):
                responses = self.transaction(conn, entries, prepared)
        return {"resourceType": "Bundle", "type": f"{kind}-response", "entry": responses}


def _rehome(exc: FhirError, entry: Entry) -> FhirError:
    """Prefix the entry position to diagnostics and move resource-relative paths under the entry."""
    issues = []
    for issue in exc.issues:
        expressions = []
        for expr in issue.expression:
            if expr.startswith("Bundle.entry["):
                expressions.append(expr)
            elif expr == entry.res_type or expr.startswith(entry.res_type + "."):
                expressions.append(f"{entry.where}.resource{expr[len(entry.res_type):]}")
            else:
                expressions.append(f"{entry.where}.resource.{expr}" if expr else f"{entry.where}")
        diagnostics = issue.diagnostics if issue.diagnostics.startswith("Bundle.entry[") else \
            f"{entry.where} ({entry.method} {entry.url}): {issue.diagnostics}"
        issues.append(Issue(issue.severity, issue.code, diagnostics, tuple(expressions) or (entry.where,)))
    rehomed = FhirError(issues)
    rehomed.status = exc.status
    return rehomed


def _creates(entry: Entry) -> bool:
    """Whether a transaction entry is a create that can be written in bulk (see `transaction`)."""
    if entry.method == "POST":
        return entry.assigned_id is not None
    return (entry.method == "PUT" and entry.matched and entry.match is None and isinstance(entry.resource, dict)
            and "id" not in entry.resource)


def _interaction(entry: Entry) -> Interaction:
    """The SMART interaction an entry needs on its type (checked before it runs, a 403 in its response)."""
    if entry.method in ("GET", "HEAD"):
        return "search" if entry.res_id is None else "read"
    return {"POST": "create", "DELETE": "delete"}.get(entry.method, "update")  # type: ignore[return-value]
