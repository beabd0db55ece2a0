"""The care-access index: which practitioners and organisations are on the care team of which patient.

Community pharmacists and GPs may only see the patients whose episode care team includes them (DESIGN
§3.1). The care team lives inside the episode CarePlan (a contained CareTeam) or, from other sources, in
a CareTeam resource; reading it from JSON on every search would cost a scan, so a write listener keeps one
row per (source resource, patient, member) in `care_access`, in the transaction that wrote the source.
Searches then filter with an indexed sub-query on the member column (`policy.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Column, Connection, Index, PrimaryKeyConstraint, String, Table

from ..repository import Stored
from ..store.tables import metadata
from ..store.types import BigId

care_access = Table(
    "care_access",
    metadata,
    Column("source_pk", BigId, nullable=False),
    Column("patient_id", String(64), nullable=False),
    Column("member", String(140), nullable=False),
    PrimaryKeyConstraint("source_pk", "patient_id", "member", name="pk_care_access"),
    Index("ix_care_access_member", "member", "patient_id"),
    # The member-scoped index reads the rows of a few patients at every Patient or team write.
    Index("ix_care_access_patient", "patient_id", "member"),
)

SOURCES = frozenset({"CarePlan", "CareTeam"})
# A team that was never valid, or was withdrawn, grants nothing; a finished episode still lets its team
# read what happened during it.
_VOID = frozenset({"entered-in-error", "revoked"})


def _local(reference: Any, kind: str | None = None) -> str | None:
    """`Type/id` of a relative reference (of `kind` when given); None for contained, absolute or other."""
    if not isinstance(reference, dict):
        return None
    value = reference.get("reference")
    if not isinstance(value, str) or value.count("/") != 1 or value.startswith("#"):
        return None
    if kind is not None and not value.startswith(kind + "/"):
        return None
    return value


def _teams(content: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if content.get("resourceType") == "CareTeam":
        yield content
        return
    wanted = {ref.get("reference", "")[1:] for ref in content.get("careTeam") or [] if isinstance(ref, dict)}
    for contained in content.get("contained") or []:
        if isinstance(contained, dict) and contained.get("resourceType") == "CareTeam" \
                and contained.get("id") in wanted:
            yield contained


def members(content: dict[str, Any]) -> tuple[str | None, set[str]]:
    """The patient id and the member references (`Practitioner/…`, `Organization/…`, …) a source grants."""
    if content.get("status") in _VOID:
        return None, set()
    patient = _local(content.get("subject"), "Patient")
    found: set[str] = set()
    for team in _teams(content):
        if team.get("status") in _VOID:
            continue
        for participant in team.get("participant") or []:
            member = _local((participant or {}).get("member"))
            if member:
                found.add(member)
    return (patient.split("/", 1)[1] if patient else None), found


class CareAccessListener:
    """Keeps `care_access` equal to the current care teams, in the transaction of each write, and tells
    `on_change` (the member-scoped index) which patients' care teams changed and which patients' Patient
    rows were written."""

    def __init__(self, on_change: Callable[[Connection, set[str], set[str]], None] | None = None) -> None:
        self.on_change = on_change

    def __call__(self, conn: Connection, written: Sequence[Stored]) -> None:
        patients = {s.res_id for s in written if s.res_type == "Patient"}
        sources = [s for s in written if s.res_type in SOURCES]
        teams = self._replace(conn, sources) if sources else set()
        if (teams or patients) and self.on_change is not None:
            self.on_change(conn, teams, patients - teams)

    @staticmethod
    def _replace(conn: Connection, sources: list[Stored]) -> set[str]:
        """Bring the rows of these sources to what they grant now; the patients whose rows changed. Most
        writes of a source keep its team (the pathway's updates of an episode): they cost one read, and
        neither the rows nor the member-scoped index of their patients are rewritten."""
        latest = {s.pk: s for s in sources}  # a transaction may write one resource twice: the last counts
        key = sa.tuple_(care_access.c.source_pk, care_access.c.patient_id, care_access.c.member)
        before = {(int(pk), patient, ref) for pk, patient, ref in conn.execute(
            sa.select(care_access.c.source_pk, care_access.c.patient_id, care_access.c.member)
            .where(care_access.c.source_pk.in_(latest)))}
        now: set[tuple[int, str, str]] = set()
        for stored in latest.values():
            patient, refs = members(stored.content) if stored.content is not None else (None, set())
            if patient:
                now.update((stored.pk, patient, ref) for ref in refs)
        gone, new = sorted(before - now), sorted(now - before)
        if gone:
            conn.execute(sa.delete(care_access).where(key.in_(gone)))
        if new:
            conn.execute(sa.insert(care_access),
                         [{"source_pk": pk, "patient_id": patient, "member": ref} for pk, patient, ref in new])
        return {patient for _, patient, _ in gone + new}


def rebuild(conn: Connection, resources: Any, care_access_table: Any = care_access) -> int:
    """Fill `care_access` from every live CarePlan and CareTeam (data written without the listener: an
    upgrade from before it existed, a bulk load). `resources` is the resource table (or a migration's
    lightweight copy of it); returns the number of rows written."""
    rows = []
    for pk, content in conn.execute(sa.select(resources.c.pk, resources.c.content).where(
            resources.c.res_type.in_(sorted(SOURCES)), resources.c.deleted == sa.false())):
        patient, refs = members(content or {})
        rows += [{"source_pk": pk, "patient_id": patient, "member": ref} for ref in sorted(refs) if patient]
    for start in range(0, len(rows), 5000):
        conn.execute(sa.insert(care_access_table), rows[start:start + 5000])
    return len(rows)
