"""The member-scoped string index (`idx_string_member`): each Patient's string index rows, once per member
of its care teams.

A community pharmacist sees about one patient in fifty; its `Patient?name=dur` would otherwise read every
`dur` of the establishment from `idx_string` and probe each against `care_access`. The rows are a join of
`care_access` and `idx_string`, so they go stale when either side changes: the care-access listener calls
`refresh` for every patient whose name rows or care team a transaction changed, in that transaction,
after the repository has written the index rows (`Repository.react` flushes them first). Searches still
apply the visibility predicate on top, so a missing row can hide a match but a stale one never shows a
patient the caller may not see.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa
from sqlalchemy import Connection

from ..search.conditions import MEMBER_SCOPED_TYPE as PATIENT
from ..search.tables import idx_string, idx_string_member
from ..store.expressions import one_of_parameter
from ..store.tables import resource
from .care_access import care_access

_COLUMNS = ["member", "hash_identity", "value_norm", "hash_exact", "res_pk", "parts"]
_BATCH = 500  # patient ids per statement, far below SQLite's bound-parameter limit


def _rows() -> sa.Select[tuple[str, int, str, int, int, int]]:
    """The rows the index must hold, for every patient (`_statements` narrows it to some)."""
    return (sa.select(care_access.c.member, idx_string.c.hash_identity, idx_string.c.value_norm,
                       idx_string.c.hash_exact, idx_string.c.res_pk, idx_string.c.parts)
             .select_from(care_access.join(resource, sa.and_(resource.c.res_type == PATIENT,
                                                             resource.c.res_id == care_access.c.patient_id))
                          .join(idx_string, idx_string.c.res_pk == resource.c.pk))
             .where(resource.c.deleted == sa.false())
             .distinct())


@dataclass(frozen=True)
class _Statements:
    """The refresh's statements, built once per dialect: building and hashing them cost more than the
    work itself for the one or few patients of a transaction (patient ids bound under `ids`)."""

    with_team: sa.Select[tuple[str]]
    delete: sa.Delete
    insert: sa.Insert


@cache
def _statements(dialect: str) -> _Statements:
    patients = one_of_parameter(care_access.c.patient_id, "ids", dialect)
    pks = sa.select(resource.c.pk).where(resource.c.res_type == PATIENT,
                                         one_of_parameter(resource.c.res_id, "ids", dialect))
    return _Statements(sa.select(care_access.c.patient_id).where(patients).distinct(),
                       sa.delete(idx_string_member).where(idx_string_member.c.res_pk.in_(pks)),
                       sa.insert(idx_string_member).from_select(_COLUMNS, _rows().where(patients)))


def on_change(conn: Connection, teams: Collection[str], patients: Collection[str]) -> None:
    """The care-access listener's hook: refresh the patients whose care teams changed, and those whose
    Patient row alone was written when some care team holds them. A patient no team holds has no rows
    here, and owes none: when its last team went, it was among the changed teams and lost its rows then.
    Most Patient writes (a DPI's admissions of new patients) thus cost one indexed read."""
    ids = sorted(patients)
    statement = _statements(conn.dialect.name).with_team
    held = {found for start in range(0, len(ids), _BATCH)
            for found in conn.execute(statement, {"ids": ids[start:start + _BATCH]}).scalars()}
    if teams or held:
        refresh(conn, {*teams, *held})


def refresh(conn: Connection, patient_ids: Collection[str]) -> None:
    """Make the rows of these patients (by id) match their current string rows and care teams."""
    ids = sorted(patient_ids)
    statements = _statements(conn.dialect.name)
    for start in range(0, len(ids), _BATCH):
        chunk = {"ids": ids[start:start + _BATCH]}
        conn.execute(statements.delete, chunk)
        conn.execute(statements.insert, chunk)


def rebuild(conn: Connection) -> int:
    """Fill the index from scratch (an upgrade, a bulk load that bypassed the listeners); returns its size."""
    conn.execute(sa.delete(idx_string_member))
    conn.execute(sa.insert(idx_string_member).from_select(_COLUMNS, _rows()))
    return int(conn.execute(sa.select(sa.func.count()).select_from(idx_string_member)).scalar_one())
