"""The only write path for resources: versions, optimistic locking, conditional interactions, indexing.

Every method takes an open connection so that one request or one whole transaction Bundle commits
atomically; the caller owns the transaction scope (`Database.write()`). Each write appends a row to
`resource_version`, moves the `resource` row to that version and refreshes the search index in the
same transaction.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Connection

from .errors import BadRequest, Conflict, Gone, Issue, NotFound, PreconditionFailed, Unprocessable
from .resources import instant, new_id, normalise_query, now_ms, parse_etag, valid_id
from .store.expressions import one_of, one_of_parameter
from .store.tables import resource, resource_version
from .write_batch import WriteBatch


class Validator(Protocol):
    def validate(self, resource: object, expected_type: str | None = None) -> list[Issue]: ...


# Index rows of one resource by table kind (see fhir_server.search.indexer), opaque to the repository.
IndexRows = dict[str, list[tuple[Any, ...]]]


class Indexer(Protocol):
    def rows(self, res_type: str, resource: dict[str, Any]) -> IndexRows: ...

    def replace_many(self, conn: Connection, items: list[tuple[int, str, dict[str, Any] | None]], *,
                     known: Mapping[int, IndexRows] | None = None) -> None: ...


class Finder(Protocol):
    def find(self, conn: Connection, res_type: str, query: str) -> list[tuple[int, str]]: ...

    def find_many(self, conn: Connection, res_type: str, queries: Sequence[str]
                  ) -> dict[str, list[tuple[int, str]]]: ...


@dataclass(frozen=True)
class Stored:
    """One version of one resource as stored; `content` is None for a deletion."""

    pk: int
    res_type: str
    res_id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    content: dict[str, Any] | None
    method: str = "GET"


@dataclass(frozen=True)
class WriteResult:
    stored: Stored
    created: bool
    # False when a conditional create matched, or a delete found nothing to do: no version was written.
    changed: bool = True


_CURRENT_COLUMNS = (
    resource.c.pk,
    resource.c.res_type,
    resource.c.res_id,
    resource.c.version_id,
    resource.c.last_updated,
    resource.c.deleted,
    resource.c.content,
)


# Prebuilt statements: building and cache-keying a new Core statement per write costs more than the SQL.
_INSERT_CURRENT = sa.insert(resource).returning(resource.c.pk)
_CURRENT = sa.select(*_CURRENT_COLUMNS).where(resource.c.res_type == sa.bindparam("res_type"),
                                              resource.c.res_id == sa.bindparam("res_id"))
_CURRENT_LOCKED = _CURRENT.with_for_update()
_UPDATE_CURRENT = sa.update(resource).where(
    resource.c.pk == sa.bindparam("where_pk"), resource.c.version_id == sa.bindparam("where_version")
)


def _copy_versions(pks: sa.ColumnElement[bool]) -> sa.Insert:
    """The version rows of writes, copied from the current rows just written inside the database: the
    content is serialised and sent once per write instead of twice (and on PostgreSQL parsed into JSONB
    once)."""
    return sa.insert(resource_version).from_select(
        ["res_pk", "version_id", "res_type", "res_id", "last_updated", "method", "deleted", "content"],
        sa.select(resource.c.pk, resource.c.version_id, resource.c.res_type, resource.c.res_id,
                  resource.c.last_updated, sa.bindparam("method", type_=sa.String()), resource.c.deleted,
                  resource.c.content).where(pks))


# RETURNING over an executemany, rows in parameter order (SQLAlchemy "insertmanyvalues").
_INSERT_CURRENT_MANY = sa.insert(resource).returning(resource.c.pk, sort_by_parameter_order=True)

# PostgreSQL: transaction-scoped advisory locks on conditional criteria, taken in the order given.
_ADVISORY_LOCKS = sa.text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS BIGINT[])) AS k")

# Key in `Connection.info` of the versions this transaction wrote that listeners have not seen yet.
_WRITTEN = "oncolink.written"

# Called once per write transaction, before commit, with the versions it wrote (see `react`).
WriteListener = Callable[[Connection, Sequence["Stored"]], None]
# Called with every stored version a read hands out and every version a write replaces; raises to refuse.
ReadGuard = Callable[[Connection, "Stored"], None]

# Key in `Connection.info` of the index rows a transaction has not written yet (see deferred_indexing).
_PENDING_INDEX = "oncolink.pending_index"
# Key in `Connection.info` of rows computed before the transaction for some of those pending resources.
_KNOWN_ROWS = "oncolink.known_index_rows"
# Key in `Connection.info` of the open write batch, if any (see write_batch).
_BATCH = "oncolink.write_batch"


def _stamp(body: dict[str, Any], res_id: str, version_id: int, now: datetime) -> dict[str, Any]:
    """The content to store: the body with its id and server-owned meta (other meta is kept)."""
    content = dict(body)
    content["id"] = res_id
    meta = dict(content.get("meta") or {})
    meta["versionId"] = str(version_id)
    meta["lastUpdated"] = instant(now)
    content["meta"] = meta
    return content


def _without_server_meta(content: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (content.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    stripped = {k: v for k, v in content.items() if k != "meta"}
    if meta:
        stripped["meta"] = meta
    return stripped


def _unchanged(current: Stored | None, body: dict[str, Any]) -> bool:
    """A write that would store what is already current makes no version (as HAPI's no-op updates):
    replaying an HL7 message or a transaction must leave the history as it was."""
    if current is None or current.deleted or current.content is None:
        return False
    return _without_server_meta(current.content) == _without_server_meta({**body, "id": current.res_id})


def _stored(row: sa.Row[Any], method: str = "GET") -> Stored:
    return Stored(row.pk, row.res_type, row.res_id, row.version_id, row.last_updated, row.deleted, row.content, method)


class Repository:
    def __init__(self, *, validator: Validator, indexer: Indexer, finder: Finder, dialect: str) -> None:
        self.validator = validator
        self.indexer = indexer
        self.finder = finder
        self._copy_versions = _copy_versions(one_of_parameter(resource.c.pk, "pks", dialect))
        self._dialect = dialect
        self._lock_rows = dialect == "postgresql"
        self.listeners: list[WriteListener] = []
        # Access control (`security.guard`): what a read returns, or a write is about to replace.
        self.guards: list[ReadGuard] = []
        # Per resource type, run on valid bodies before they are stored: type-specific rules (422) and
        # server-owned fields (a Subscription's status).
        self.preparers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}

    # -- reads -------------------------------------------------------------------------------

    def current(self, conn: Connection, res_type: str, res_id: str, *, lock: bool = False) -> Stored | None:
        if not valid_id(res_id):  # never stored; and PostgreSQL rejects some bytes (NUL) outright
            return None
        batch: WriteBatch | None = conn.info.get(_BATCH) if lock else None
        held = batch.held(res_type, res_id) if batch is not None else None
        if held is not None:
            return held
        query = _CURRENT_LOCKED if lock and self._lock_rows else _CURRENT
        row = conn.execute(query, {"res_type": res_type, "res_id": res_id}).first()
        stored = _stored(row) if row else None
        if batch is not None and stored is not None:  # locked (PostgreSQL) or in the single writer (SQLite)
            batch.hold(stored)
        return stored

    def lock_many(self, conn: Connection, res_type: str, res_ids: Sequence[str]) -> dict[str, Stored]:
        """`current(…, lock=True)` for many resources in one statement (locked in primary-key order, as two
        such transactions must take them to never wait on each other), kept by the open write batch."""
        wanted = [i for i in dict.fromkeys(res_ids) if valid_id(i)]
        found: dict[str, Stored] = {}
        for start in range(0, len(wanted), 500):  # bound parameters stay far below SQLite's limit
            query = sa.select(*_CURRENT_COLUMNS).where(
                resource.c.res_type == res_type, one_of(resource.c.res_id, wanted[start:start + 500], self._dialect))
            query = query.order_by(resource.c.pk).with_for_update() if self._lock_rows else query
            found.update((row.res_id, _stored(row)) for row in conn.execute(query))
        batch: WriteBatch | None = conn.info.get(_BATCH)
        if batch is not None:
            for stored in found.values():
                batch.hold(stored)
        return found

    def current_or_404(self, conn: Connection, res_type: str, res_id: str) -> Stored:
        stored = self.current(conn, res_type, res_id)
        if stored is None:
            raise NotFound(f"{res_type}/{res_id} is not known")
        self._guard(conn, stored)
        return stored

    def _guard(self, conn: Connection, stored: Stored) -> None:
        for guard in self.guards:
            guard(conn, stored)

    def read(self, conn: Connection, res_type: str, res_id: str) -> Stored:
        stored = self.current_or_404(conn, res_type, res_id)
        if stored.deleted:
            raise Gone(f"{res_type}/{res_id} was deleted (version {stored.version_id})")
        return stored

    def version_ids(self, conn: Connection, references: Sequence[str]) -> dict[str, int]:
        """The current version of each `Type/id` (a Provenance pinning what a transaction wrote), read in
        one statement rather than one read per target; 404 when one is not there any more."""
        by_type: dict[str, list[str]] = {}
        for ref in references:
            res_type, res_id = ref.split("/", 1)
            by_type.setdefault(res_type, []).append(res_id)
        r = resource.c
        # Per type `res_id IN (…)`, not a row-value IN: SQLite scans the table for the latter.
        rows = conn.execute(sa.select(r.res_type, r.res_id, r.version_id).where(
            sa.or_(*(sa.and_(r.res_type == t, one_of(r.res_id, ids, self._dialect)) for t, ids in by_type.items())),
            r.deleted == sa.false())).all() if by_type else []
        found = {f"{row.res_type}/{row.res_id}": int(row.version_id) for row in rows}
        missing = [ref for ref in references if ref not in found]
        if missing:
            raise NotFound(f"{missing[0]} is not known")
        return found

    def vread(self, conn: Connection, res_type: str, res_id: str, version_id: str) -> Stored:
        if not valid_id(res_id) or not version_id.isdigit() or len(version_id) > 9:  # 9 digits: INTEGER column
            raise NotFound(f"{res_type}/{res_id} has no version {version_id!r}")
        self.flush_index(conn)  # a version this transaction wrote in a batch may not be copied yet
        v = resource_version.c
        row = conn.execute(
            sa.select(
                v.res_pk.label("pk"), v.res_type, v.res_id, v.version_id, v.last_updated, v.deleted, v.content, v.method
            ).where(v.res_type == res_type, v.res_id == res_id, v.version_id == int(version_id))
        ).first()
        if row is None:
            raise NotFound(f"{res_type}/{res_id} has no version {version_id}")
        stored = _stored(row, row.method)
        self._guard(conn, stored)
        if row.deleted:
            raise Gone(f"version {version_id} of {res_type}/{res_id} is a deletion")
        return stored

    # -- content checks ----------------------------------------------------------------------

    def check(self, res_type: str, body: Any) -> dict[str, Any]:
        """Reject what is not a resource of `res_type` (400) or not valid R4 content (422)."""
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object holding a FHIR resource", code="structure")
        found = body.get("resourceType")
        if found != res_type:
            raise BadRequest(
                f"The resource type in the body ({found!r}) does not match the URL ({res_type})",
                expression=("resourceType",),
            )
        issues = self.validator.validate(body, res_type)
        if any(i.severity in ("error", "fatal") for i in issues):
            raise Unprocessable(issues)
        prepare = self.preparers.get(res_type)
        return prepare(body) if prepare else body

    # -- writes ------------------------------------------------------------------------------

    def _write(
        self, conn: Connection, res_type: str, res_id: str, body: dict[str, Any] | None, method: str,
        current: Stored | None,
    ) -> Stored:
        """Append one version; `body` None writes a deletion marker."""
        now = now_ms()
        version_id = current.version_id + 1 if current else 1
        content = None if body is None else _stamp(body, res_id, version_id, now)
        values = {
            "version_id": version_id, "last_updated": now, "deleted": body is None, "content": content,
        }
        if current is not None and current.version_id > 0:
            self._guard(conn, current)
        batch: WriteBatch | None = conn.info.get(_BATCH)
        if current is None:
            pk = conn.execute(_INSERT_CURRENT, {"res_type": res_type, "res_id": res_id, **values}).scalar_one()
        else:
            pk = current.pk
            if batch is not None and pk in batch.copies:  # the version it replaces must be copied first
                self._copy_pending(conn, batch)
            moved = conn.execute(
                _UPDATE_CURRENT, {"where_pk": pk, "where_version": current.version_id, **values}
            ).rowcount
            if moved != 1:
                raise Conflict(f"{res_type}/{res_id} was changed by another request; retry")
        if batch is None:
            conn.execute(self._copy_versions, {"pks": [pk], "method": method})
        else:
            batch.copies[pk] = method
        self._index(conn, [(pk, res_type, content)])
        stored = Stored(pk, res_type, res_id, version_id, now, body is None, content, method)
        if batch is not None:
            batch.hold(stored)
        conn.info.setdefault(_WRITTEN, []).append(stored)
        return stored

    def _copy_versions_of(self, conn: Connection, pks: Sequence[int], method: str) -> None:
        for start in range(0, len(pks), 500):  # bound parameters per statement stay far below SQLite's limit
            conn.execute(self._copy_versions, {"pks": pks[start:start + 500], "method": method})

    def _copy_pending(self, conn: Connection, batch: WriteBatch) -> None:
        for method, pks in batch.take_copies().items():
            self._copy_versions_of(conn, pks, method)

    def create_many(self, conn: Connection, items: list[tuple[str, str, dict[str, Any]]],
                    index_rows: Sequence[IndexRows | None] = (), *, method: str = "POST") -> list[WriteResult]:
        """Creates of checked bodies with ids the caller assigned (a transaction's POST entries, and its
        conditional PUTs that matched nothing), written with one statement per table instead of two per
        resource; `method` is the interaction the versions record. `index_rows`, aligned with `items`
        where given: each body's rows from `index_rows()`, computed before the transaction began."""
        if not items:
            return []
        now = now_ms()
        contents = [_stamp(body, res_id, 1, now) for _, res_id, body in items]
        current_rows = [
            {"res_type": t, "res_id": i, "version_id": 1, "last_updated": now, "deleted": False, "content": c}
            for (t, i, _), c in zip(items, contents, strict=True)
        ]
        pks = conn.execute(_INSERT_CURRENT_MANY, current_rows).scalars().all()
        self._copy_versions_of(conn, pks, method)
        known = {pk: rows for pk, rows in zip(pks, index_rows, strict=False) if rows is not None}
        self._index(conn, [(pk, t, c) for pk, (t, _, _), c in zip(pks, items, contents, strict=True)], known)
        written = [Stored(pk, t, i, 1, now, False, c, method) for pk, (t, i, _), c in zip(pks, items, contents,
                                                                                          strict=True)]
        conn.info.setdefault(_WRITTEN, []).extend(written)
        return [WriteResult(stored, created=True) for stored in written]

    def react(self, conn: Connection) -> None:
        """Pre-commit hook (`Database.before_commit`): hand each listener the versions written since it
        last looked. Listeners may write in turn (a triage writing a Flag); those writes are handed round
        again until the transaction is quiet, so reactions commit atomically with what caused them."""
        while written := conn.info.pop(_WRITTEN, None):
            self.flush_index(conn)
            for listener in self.listeners:
                listener(conn, written)

    def index_rows(self, res_type: str, body: dict[str, Any]) -> IndexRows:
        """The index rows of a checked body that `create_many` will store: rows depend on the content
        only, never on the id, version or time the write stamps (`_id` and `_lastUpdated` are columns).
        Computed before the write transaction, they cost no time under SQLite's single write lock, while
        another request's statements and commit run without the interpreter lock."""
        return self.indexer.rows(res_type, body)

    def _index(self, conn: Connection, items: list[tuple[int, str, dict[str, Any] | None]],
               known: Mapping[int, IndexRows] | None = None) -> None:
        pending = conn.info.get(_PENDING_INDEX)
        if pending is None:
            self.indexer.replace_many(conn, items, known=known)
            return
        pending.update((item[0], item) for item in items)
        computed = conn.info.setdefault(_KNOWN_ROWS, {})
        for pk, _, _ in items:  # a later version of a resource replaces the rows of its first
            computed.pop(pk, None)
        if known:
            computed.update(known)

    # -- search index ------------------------------------------------------------------------

    @contextmanager
    def deferred_indexing(self, conn: Connection) -> Iterator[None]:
        """Within this block, index rows are written in bulk (one statement per index table) when the
        index is next read through `find`/`flush_index`, and at the end. A transaction Bundle of 100
        creates then costs a handful of index statements instead of a dozen per resource."""
        conn.info[_PENDING_INDEX] = {}
        try:
            yield
            self.flush_index(conn)
        finally:
            conn.info.pop(_PENDING_INDEX, None)
            conn.info.pop(_KNOWN_ROWS, None)

    @contextmanager
    def write_batch(self, conn: Connection) -> Iterator[None]:
        """Within this block, besides deferred indexing, version rows are copied in bulk when the index is
        flushed (and before a version is replaced), and the current rows this transaction locked or wrote
        are kept, so an update of one of them needs no locked re-read (`WriteBatch`): a write costs one
        statement of its own instead of two or three."""
        conn.info[_BATCH] = WriteBatch()
        try:
            with self.deferred_indexing(conn):
                yield
        finally:
            conn.info.pop(_BATCH, None)

    def flush_index(self, conn: Connection) -> None:
        """Write what the transaction holds back: deferred index rows and a batch's version copies (before
        any search, listener or version read sees the database)."""
        batch: WriteBatch | None = conn.info.get(_BATCH)
        if batch is not None and batch.copies:
            self._copy_pending(conn, batch)
        pending = conn.info.get(_PENDING_INDEX)
        if pending:
            items = list(pending.values())
            pending.clear()
            self.indexer.replace_many(conn, items, known=conn.info.pop(_KNOWN_ROWS, None))

    def contents(self, conn: Connection, found: list[tuple[int, str]]) -> list[dict[str, Any]]:
        """The current content of `find`'s matches."""
        return [row.content for row in self.columns(conn, found, [resource.c.content]) if row.content is not None]

    def columns(self, conn: Connection, found: list[tuple[int, str]], columns: Sequence[sa.ColumnElement[Any]],
                batch: int = 2000) -> list[sa.Row[Any]]:
        """`columns` of the current rows of `find`'s matches, in batches of primary keys: a job over every
        episode reads them in a few statements, not one per resource, and never more bound parameters than
        SQLite accepts in one statement."""
        pks = [pk for pk, _ in found]
        out: list[sa.Row[Any]] = []
        for start in range(0, len(pks), batch):
            chunk = pks[start:start + batch]
            out += conn.execute(sa.select(*columns).where(one_of(resource.c.pk, chunk, self._dialect),
                                                          resource.c.deleted == sa.false())).all()
        return out

    def find(self, conn: Connection, res_type: str, query: str) -> list[tuple[int, str]]:
        """Matches of conditional criteria, seeing this transaction's own writes."""
        self.flush_index(conn)
        return self.finder.find(conn, res_type, query)

    def create(
        self, conn: Connection, res_type: str, body: Any, *, if_none_exist: str | None = None,
        res_id: str | None = None,
    ) -> WriteResult:
        """Create with a server id (the body's id is ignored, as the spec says). `res_id` lets a
        transaction pre-assign the id it already rewrote references to."""
        if if_none_exist:
            existing = self.match_one(conn, res_type, if_none_exist, "If-None-Exist")
            if existing is not None:
                return WriteResult(self.read(conn, res_type, existing[1]), created=False, changed=False)
        body = self.check(res_type, body)
        return WriteResult(self._write(conn, res_type, res_id or new_id(), body, "POST", None), created=True)

    def update(
        self, conn: Connection, res_type: str, res_id: str, body: Any, *, if_match: str | None = None,
        method: str = "PUT",
    ) -> WriteResult:
        if not valid_id(res_id):
            raise BadRequest(f"{res_id!r} in the URL is not a valid FHIR id", expression=(f"{res_type}.id",))
        body = self.check(res_type, body)
        body_id = body.get("id")
        if body_id is None:
            raise BadRequest("An update must carry the resource id in the body", expression=(f"{res_type}.id",))
        if body_id != res_id:
            raise BadRequest(
                f"The id in the body ({body_id!r}) does not match the URL ({res_id!r})", expression=(f"{res_type}.id",)
            )
        return self._update_checked(conn, res_type, res_id, body, if_match=if_match, method=method)

    def _update_checked(
        self, conn: Connection, res_type: str, res_id: str, body: dict[str, Any], *, if_match: str | None,
        method: str,
    ) -> WriteResult:
        for _ in range(2):
            current = self.current(conn, res_type, res_id, lock=True)
            self._check_if_match(res_type, res_id, current, if_match)
            if current is not None or not self._lock_rows:
                break
            # PostgreSQL: nothing to lock yet. Claim the id; a concurrent creator makes us update instead.
            pk = conn.execute(
                sa.text(
                    "INSERT INTO resource (res_type, res_id, version_id, last_updated, deleted, content) "
                    "VALUES (:t, :i, 0, now(), true, NULL) ON CONFLICT (res_type, res_id) DO NOTHING RETURNING pk"
                ),
                {"t": res_type, "i": res_id},
            ).scalar()
            if pk is not None:
                placeholder = Stored(pk, res_type, res_id, 0, now_ms(), True, None)
                return WriteResult(self._write(conn, res_type, res_id, body, method, placeholder), created=True)
        else:
            raise Conflict(f"{res_type}/{res_id} is being created by another request; retry")
        if _unchanged(current, body):
            assert current is not None
            return WriteResult(current, created=False, changed=False)
        created = current is None or current.deleted
        return WriteResult(self._write(conn, res_type, res_id, body, method, current), created=created)

    @staticmethod
    def _check_if_match(res_type: str, res_id: str, current: Stored | None, if_match: str | None) -> None:
        if if_match is None:
            return
        wanted = parse_etag(if_match)
        if current is None or current.deleted or str(current.version_id) != wanted:
            have = "none" if current is None or current.deleted else f'W/"{current.version_id}"'
            raise PreconditionFailed(
                f"If-Match {if_match} does not match the current version of {res_type}/{res_id} ({have})"
            )

    def delete(self, conn: Connection, res_type: str, res_id: str, *, if_match: str | None = None) -> WriteResult:
        current = self.current(conn, res_type, res_id, lock=True)
        if current is None:
            raise NotFound(f"{res_type}/{res_id} is not known")
        self._check_if_match(res_type, res_id, current, if_match)
        if current.deleted:
            return WriteResult(current, created=False, changed=False)
        return WriteResult(self._write(conn, res_type, res_id, None, "DELETE", current), created=False)

    def patch(
        self, conn: Connection, res_type: str, res_id: str, apply: Any, *, if_match: str | None = None
    ) -> WriteResult:
        """Apply `apply(content) -> new content` to the current version and store the result."""
        current = self.current(conn, res_type, res_id, lock=True)
        if current is None:
            raise NotFound(f"{res_type}/{res_id} is not known")
        if current.deleted:
            raise Gone(f"{res_type}/{res_id} was deleted")
        self._check_if_match(res_type, res_id, current, if_match)
        assert current.content is not None
        patched = apply(copy.deepcopy(current.content))
        if not isinstance(patched, dict) or patched.get("id") != res_id or patched.get("resourceType") != res_type:
            raise Unprocessable("A patch must not change the resource type or id", code="business-rule")
        body = self.check(res_type, patched)
        if _unchanged(current, body):
            return WriteResult(current, created=False, changed=False)
        return WriteResult(self._write(conn, res_type, res_id, body, "PATCH", current), created=False)

    # -- conditional interactions ------------------------------------------------------------

    def match_one(self, conn: Connection, res_type: str, query: str, what: str) -> tuple[int, str] | None:
        """The single match of a conditional query, None for no match, 412 for several.

        On PostgreSQL the criteria are locked for the rest of the transaction first, so two concurrent
        conditional creates of the same business identifier (two server processes receiving the same
        HL7 message) serialise and the second one finds the first one's resource. SQLite has one writer."""
        return self.match_many(conn, [(res_type, query, what)])[0]

    def match_many(self, conn: Connection, criteria: Sequence[tuple[str, str, str]]) -> list[tuple[int, str] | None]:
        """`match_one` for each `(res_type, query, what)` of a transaction at once: the criteria locked by
        one statement (in a fixed order, so two transactions locking overlapping sets cannot deadlock)
        and identifier queries of one type read by one statement, instead of two round trips each."""
        if not criteria:  # a transaction without conditional entries: no lock statement, no flush
            return []
        if self._lock_rows:
            keys = sorted({int.from_bytes(hashlib.blake2b(f"{t}?{normalise_query(q)}".encode(), digest_size=8)
                                          .digest(), "big", signed=True) for t, q, _ in criteria})
            conn.execute(_ADVISORY_LOCKS, {"keys": keys})
        self.flush_index(conn)
        by_type: dict[str, list[str]] = {}
        for res_type, query, _ in criteria:
            by_type.setdefault(res_type, []).append(query)
        found = {t: self.finder.find_many(conn, t, queries) for t, queries in by_type.items()}
        out = []
        for res_type, query, what in criteria:
            matches = found[res_type][query]
            if len(matches) > 1:
                raise PreconditionFailed(
                    f"{what} criteria '{query}' match {len(matches)} {res_type} resources; they must match at most "
                    "one", code="multiple-matches",
                )
            out.append(matches[0] if matches else None)
        return out

    def conditional_update(
        self, conn: Connection, res_type: str, query: str, body: Any, *, if_match: str | None = None
    ) -> WriteResult:
        body = self.check(res_type, body)
        match = self.match_one(conn, res_type, query, "Conditional update")
        return self.update_matched(conn, res_type, query, match, body, if_match=if_match)

    def update_matched(
        self, conn: Connection, res_type: str, query: str, match: tuple[int, str] | None, body: dict[str, Any],
        *, if_match: str | None = None,
    ) -> WriteResult:
        """A conditional update whose criteria were already matched (a transaction resolves them once,
        before rewriting references); `body` has been checked."""
        body_id = body.get("id")
        if match is None:
            res_id = body_id or new_id()
            if not valid_id(res_id):
                raise BadRequest(f"{res_id!r} is not a valid FHIR id", expression=(f"{res_type}.id",))
            if body_id and self.current(conn, res_type, body_id) is not None:
                raise Conflict(f"{res_type}/{body_id} exists but does not match '{query}'")
        else:
            res_id = match[1]
            if body_id is not None and body_id != res_id:
                raise BadRequest(
                    f"The id in the body ({body_id!r}) is not the id of the matching resource ({res_id!r})",
                    expression=(f"{res_type}.id",),
                )
        body = {**body, "id": res_id}
        return self._update_checked(conn, res_type, res_id, body, if_match=if_match, method="PUT")

    def conditional_delete(self, conn: Connection, res_type: str, query: str) -> WriteResult | None:
        match = self.match_one(conn, res_type, query, "Conditional delete")
        if match is None:
            return None
        return self.delete(conn, res_type, match[1])

    def conditional_patch(self, conn: Connection, res_type: str, query: str, apply: Any,
                          *, if_match: str | None = None) -> WriteResult:
        match = self.match_one(conn, res_type, query, "Conditional patch")
        if match is None:
            raise NotFound(f"No {res_type} matches '{query}'")
        return self.patch(conn, res_type, match[1], apply, if_match=if_match)
