"""Read side of search: one predicate builder per parameter type, over the same index tables the
extractors of `extract/` fill.

Every builder has the same shape: `condition(target, modifier, value, ctx)` returns the WHERE clause,
on its own table, that one OR-ed value stands for; the engine combines them into
`resource.pk IN (SELECT res_pk FROM table WHERE c1 OR c2 …)` and handles what is common to all types
(`:missing`, `:not`, chains, `_has`). Builders raise BadRequest with a precise message for malformed
values and unsupported modifiers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import ColumnElement

from fhir_server.errors import BadRequest

from ..hashing import hash_parts, identity_hash

if TYPE_CHECKING:
    from ..registry import SearchParam, SearchParameters


@dataclass(frozen=True)
class Target:
    """Which rows a clause reads: hash namespace (resource type, or "Resource") and parameter key."""

    hash_type: str
    key: str
    code: str
    targets: tuple[str, ...] = ()
    # Parameters read from another's rows (see `SearchParameters.index_key`): a string parameter's parts
    # of its parent's HumanName or Address (`family` of `name`: bits of `parts.PARTS`), a token
    # parameter's ContactPoint system (`phone` of `telecom`). 0 and "" for every other parameter.
    parts: int = 0
    system: str = ""

    @property
    def identity(self) -> int:
        return identity_hash(self.hash_type, self.key)

    def narrowing(self, table: Any) -> list[ColumnElement[bool]]:
        """What selects this parameter's rows among its `key`'s, as a list to splat into `where`/`and_`."""
        if self.parts:
            return [table.c.parts.op("&")(self.parts) != 0]
        if self.system:
            return [table.c.hash_sys == self.hash(self.system, "")]
        return []

    def hash(self, *parts: str) -> int:
        return hash_parts(self.hash_type, self.key, *parts)

    def derived(self, suffix: str) -> Target:
        return Target(self.hash_type, self.key + suffix, self.code, self.targets, self.parts, self.system)


def target_for(params: SearchParameters, res_type: str, param: SearchParam) -> Target:
    """The rows that `param` of `res_type` reads (see `SearchParameters.index_key`)."""
    code = param.code
    return Target(param.hash_type(res_type), params.index_key(res_type, code), code, param.targets,
                  params.part_mask(res_type, code), params.fixed_system(res_type, code))


class RowFilter(Protocol):
    """Which resource rows the caller may see (access control, `security.policy.Access.condition`):
    a predicate on a row's pk, type and id, None when every row is visible. `known_type` is the row's
    type when the query already fixes it; `interaction` is "search" for matches, "read" for includes."""

    def __call__(self, pk: ColumnElement[Any], res_type: ColumnElement[str], res_id: ColumnElement[str],
                 known_type: str | None = None, interaction: Any = "search") -> ColumnElement[bool] | None: ...


@dataclass(frozen=True)
class QueryContext:
    dialect: str
    # Absolute references starting with this base are local (`http://host/fhir/Patient/1`).
    base_url: str
    now_us: int
    # Applied to every resource row a query reads, chained and `_has` sub-queries included.
    visible: RowFilter | None = None
    # The care-team members the caller's reach is limited to (None: not care-team scoped): string
    # clauses on the searched Patients then read `idx_string_member` rather than `idx_string`.
    members: tuple[str, ...] | None = None

    def visibility(self, row: Any, known_type: str | None) -> list[ColumnElement[bool]]:
        return row_visibility(self.visible, row, known_type)


def row_visibility(visible: RowFilter | None, row: Any, known_type: str | None, interaction: str = "search"
                   ) -> list[ColumnElement[bool]]:
    """The access predicate on a `resource` row (or alias), as a list to splat into `where`."""
    if visible is None:
        return []
    condition = visible(row.c.pk, row.c.res_type, row.c.res_id, known_type, interaction)
    return [] if condition is None else [condition]


def unsupported_modifier(code: str, modifier: str, param_type: str) -> BadRequest:
    return BadRequest(
        f"Modifier ':{modifier}' is not supported on {param_type} parameter '{code}'", code="not-supported"
    )


def invalid_value(code: str, value: str, why: str) -> BadRequest:
    return BadRequest(f"Invalid value '{value}' for search parameter '{code}': {why}", code="invalid")
