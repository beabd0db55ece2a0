"""`_include` and `_revinclude` (with `:iterate` and `*`), read from the reference index.

Non-iterating specifications apply to the page's matches only; iterating ones are applied again to
what the previous round added, until nothing new appears or the caps are reached (a seen-set stops
cycles). Included resources are loaded in one query per round and type, and listed round by round in
creation order, so a Bundle's content never depends on the database's plan.

The caps (`max_include_rounds` rounds, the first one included, and `max_included_resources` resources
per page) bound what one search may make the server load; reaching one is reported, never silent
(ADR 0012): a warning under lenient handling, a 400 under strict handling.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, false, select

from fhir_server.errors import BadRequest, Issue
from fhir_server.limits import over_limit
from fhir_server.store.tables import resource

from .parse import Include
from .predicates import RowFilter, Target, row_visibility
from .registry import SearchParameters
from .tables import idx_reference


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
    def __init__(self, params: SearchParameters, max_rounds: int, max_included: int) -> None:
        self.params = params
        self.max_rounds = max_rounds
        self.max_included = max_included

    def _reference_hashes(self, source: str, code: str) -> list[int]:
        found = self.params.for_type(source)
        names = [c for c, p in found.items() if p.type == "reference"] if code == "*" else [code]
        return [Target(found[c].hash_type(source), self.params.index_key(source, c), c).identity
                for c in names if c in found]

    def resolve(self, conn: Connection, matches: list[Found], includes: list[Include],
                visible: RowFilter | None = None, *, strict: bool = False) -> tuple[list[Found], list[Issue]]:
        """The included resources, limited to those `visible` lets the caller read, and the warning when a
        cap cut them short (raised under `strict`). Only visible resources count towards the caps and the
        look past the last round, so the warning never tells of resources the caller may not read."""
        if not includes:
            return [], []
        seen = {(m.res_type, m.res_id) for m in matches}
        included: list[Found] = []
        current = list(matches)
        iterating = [s for s in includes if s.iterate]
        for round_number in range(self.max_rounds):
            specs = includes if round_number == 0 else iterating
            if not specs or not current:
                return included, []
            added: list[Found] = []
            for found in sorted(self._round(conn, current, specs, visible), key=lambda f: f.pk):
                if (found.res_type, found.res_id) in seen:
                    continue
                if len(included) + len(added) == self.max_included:
                    included.extend(added)
                    return included, [self._too_many(includes, strict)]
                seen.add((found.res_type, found.res_id))
                added.append(found)
            included.extend(added)
            current = added
        # The rounds are spent: say so only if one more would really have added something.
        if iterating and current:
            beyond = self._round(conn, current, iterating, visible)
            if any((f.res_type, f.res_id) not in seen for f in beyond):
                return included, [self._too_deep(includes, strict)]
        return included, []

    def _too_many(self, includes: list[Include], strict: bool) -> Issue:
        return over_limit(f"The includes reach more than {self.max_included} resources "
                          "(ONCOLINK_MAX_INCLUDED_RESOURCES)", f"the first {self.max_included} are included",
                          _parameters(includes), strict)

    def _too_deep(self, includes: list[Include], strict: bool) -> Issue:
        return over_limit(f"The :iterate includes go deeper than {self.max_rounds} rounds "
                          "(ONCOLINK_MAX_INCLUDE_ROUNDS)", f"resources beyond round {self.max_rounds} are not included",
                          _parameters(includes), strict)

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


def _parameters(includes: list[Include]) -> tuple[str, ...]:
    """The parameter names (`_include`, `_revinclude`) an include issue points at."""
    return tuple(dict.fromkeys("_revinclude" if spec.reverse else "_include" for spec in includes))
