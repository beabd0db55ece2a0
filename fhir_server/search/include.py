"""`_include` and `_revinclude` (with `:iterate` and `*`), read from the reference index.

Non-iterating specifications apply to the page's matches only; iterating ones are applied again to
what the previous round added, until nothing new appears or the caps are reached (a seen-set stops
cycles). Included resources are loaded in one query per round and type, and listed round by round in
creation order, so a Bundle's content never depends on the database's plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, false, select

from fhir_server.errors import BadRequest
from fhir_server.store.tables import resource

from .parse import Include
from .predicates import RowFilter, Target, row_visibility
from .registry import SearchParameters
from .tables import idx_reference

MAX_ROUNDS = 5
MAX_INCLUDED = 1000


@dataclass(frozen=True)
class Found:
    pk: int
    res_type: str
    res_id: str
    content: dict[str, Any]


def check(params: SearchParameters, includes: list[Include], res_types: list[str]) -> None:
    """Reject include specifications that name unknown types or non-reference parameters."""
    for spec in includes:
        if spec.source == "*":
            continue
        known = params.resource_types()
        if spec.source not in known:
            raise BadRequest(f"Unknown resource type '{spec.source}' in {spec.raw}", code="invalid")
        if spec.target and spec.target not in known:
            raise BadRequest(f"Unknown target type '{spec.target}' in {spec.raw}", code="invalid")
        if spec.param == "*":
            continue
        param = params.get(spec.source, spec.param)
        if param is None or param.type != "reference":
            raise BadRequest(f"'{spec.param}' is not a reference search parameter of {spec.source} in {spec.raw}",
                             code="invalid")


class IncludeResolver:
    def __init__(self, params: SearchParameters) -> None:
        self.params = params

    def _reference_hashes(self, source: str, code: str) -> list[int]:
        found = self.params.for_type(source)
        names = [c for c, p in found.items() if p.type == "reference"] if code == "*" else [code]
        return [Target(found[c].hash_type(source), self.params.index_key(source, c), c).identity
                for c in names if c in found]

    def resolve(self, conn: Connection, matches: list[Found], includes: list[Include],
                visible: RowFilter | None = None) -> list[Found]:
        """The included resources, limited to those `visible` lets the caller read."""
        if not includes:
            return []
        seen = {(m.res_type, m.res_id) for m in matches}
        included: list[Found] = []
        current = list(matches)
        for round_number in range(MAX_ROUNDS):
            specs = [s for s in includes if s.iterate or round_number == 0]
            if not specs or not current:
                break
            added: list[Found] = []
            for found in sorted(self._round(conn, current, specs, visible), key=lambda f: f.pk):
                if (found.res_type, found.res_id) not in seen and len(included) + len(added) < MAX_INCLUDED:
                    seen.add((found.res_type, found.res_id))
                    added.append(found)
            included.extend(added)
            current = added
        return included

    def _round(self, conn: Connection, sources: list[Found], specs: list[Include], visible: RowFilter | None
               ) -> Iterable[Found]:
        by_type: dict[str, list[Found]] = {}
        for found in sources:
            by_type.setdefault(found.res_type, []).append(found)
        targets: dict[str, set[str]] = {}
        revinclude_pks: set[int] = set()
        for spec in specs:
            for res_type, group in by_type.items():
                if not spec.reverse and spec.source in ("*", res_type):
                    for target_type, target_id in self._forward(conn, res_type, group, spec):
                        targets.setdefault(target_type, set()).add(target_id)
                elif spec.reverse:
                    revinclude_pks.update(self._reverse(conn, res_type, group, spec))
        for target_type, ids in targets.items():
            where = [resource.c.res_type == target_type, *row_visibility(visible, resource, target_type, "read")]
            yield from self._load(conn, where, resource.c.res_id, sorted(ids))
        if revinclude_pks:
            yield from self._load(conn, row_visibility(visible, resource, None, "read"), resource.c.pk,
                                  sorted(revinclude_pks))

    def _forward(self, conn: Connection, res_type: str, group: list[Found], spec: Include
                 ) -> list[tuple[str, str]]:
        hashes = self._reference_hashes(res_type, spec.param)
        if not hashes:
            return []
        query = select(idx_reference.c.target_type, idx_reference.c.target_id).distinct().where(
            idx_reference.c.res_pk.in_([f.pk for f in group]),
            idx_reference.c.hash_identity.in_(hashes),
            idx_reference.c.target_type != "",
        )
        if spec.target:
            query = query.where(idx_reference.c.target_type == spec.target)
        return [(row.target_type, row.target_id) for row in conn.execute(query)]

    def _reverse(self, conn: Connection, res_type: str, group: list[Found], spec: Include) -> list[int]:
        if spec.target and spec.target != res_type:
            return []
        query = select(idx_reference.c.res_pk).distinct().where(
            idx_reference.c.target_type == res_type,
            idx_reference.c.target_id.in_([f.res_id for f in group]),
        )
        if spec.source != "*":
            hashes = self._reference_hashes(spec.source, spec.param)
            if not hashes:
                return []
            query = query.where(idx_reference.c.hash_identity.in_(hashes))
        return [row.res_pk for row in conn.execute(query)]

    @staticmethod
    def _load(conn: Connection, where: list[Any], column: Any, keys: list[Any]) -> Iterable[Found]:
        for start in range(0, len(keys), 500):
            query = select(resource.c.pk, resource.c.res_type, resource.c.res_id, resource.c.content).where(
                column.in_(keys[start : start + 500]), resource.c.deleted == false(), *where
            ).order_by(resource.c.pk)
            for row in conn.execute(query):
                yield Found(row.pk, row.res_type, row.res_id, row.content)

