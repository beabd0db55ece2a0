"""`oncolink pathway tick`: time moves the pathway on.

Sequences whose period ended are closed and the next one opened (or the episode completed at its
tenth month); telemonitored episodes get the forfait of each month begun. The whole file active is read
in a few statements, and only the episodes with something due are written, a batch of them per write
transaction (`pathway_tick_batch`): a catch-up over thousands of episodes pays one commit per batch, not
one per episode. A batch that fails is rolled back and its episodes retried one transaction each, so one
failing episode never holds back the others. Running it twice, or from two processes, writes nothing
more: every write is keyed on a business identifier.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from ..errors import FhirError
from ..store.tables import resource
from .forfaits import telemonitoring_months
from .known import Known
from .plans import EXT_TELEMONITORING, SID, extension, step_of
from .tick_processes import Job, run
from .transitions import Pathway, engine

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)
EPISODES = "category=https://oncolink.example.org/fhir/CodeSystem/oncolink-careplan-category|episode&status=active"
# The elements of an episode or sequence that `_due` and `step_of` read.
_OUTLINE = ("period", "extension", "partOf")
SEQUENCES = "category=https://oncolink.example.org/fhir/CodeSystem/oncolink-careplan-category|sequence&status=active"


@dataclass
class TickReport:
    episodes: int = 0
    transitions: int = 0
    completed: int = 0
    telemonitoring_months: int = 0
    failed: list[str] = field(default_factory=list)

    def add(self, moved: TickReport) -> None:
        self.transitions += moved.transitions
        self.completed += moved.completed
        self.telemonitoring_months += moved.telemonitoring_months
        self.failed += moved.failed


def _due(pathway: Pathway, episode: dict[str, Any], sequence: dict[str, Any] | None, today: date,
         billed: set[str]) -> bool:
    if date.fromisoformat(str(episode["period"]["end"])[:10]) < today:
        return True
    if sequence is not None and step_of(sequence).end < today:
        return True
    if extension(episode, EXT_TELEMONITORING) is not True:
        return False
    start = date.fromisoformat(str(episode["period"]["start"])[:10])
    end = date.fromisoformat(str(episode["period"]["end"])[:10])
    return any(f"{episode['id']}/telesurveillance/{m[0]:%Y-%m}" not in billed
               for m in telemonitoring_months(pathway.rules, start, end, today))


def _run_one(pathway: Pathway, conn: Connection, episode: dict[str, Any], current: dict[str, Any] | None, today: date,
             now: datetime, billed: set[str], known: Known, report: TickReport) -> list[str]:
    """Move one active episode on (its row locked, its sequence in progress `current`); answers what it
    wrote."""
    episode_id = str(episode["id"])
    written: list[str] = []
    last = date.fromisoformat(str(episode["period"]["end"])[:10])
    while episode.get("status") == "active" and current is not None:
        step = step_of(current)
        if step.end >= today and last >= today:
            break
        done = pathway.advance(conn, episode, current, step.end + timedelta(days=1), now, known=known)
        written += done.written
        episode = done.episode
        if episode.get("status") != "active":
            report.completed += 1
            break
        report.transitions += 1
        # The sequence just opened is the one in progress, unless it was there already (and not active).
        opened = done.sequence
        current = opened if opened and opened.get("status") == "active" else pathway.current_sequence(
            conn, episode_id)
    if episode.get("status") == "active":
        months = pathway.bill_telemonitoring(conn, episode, today, now, billed, known)
        report.telemonitoring_months += len(months)
        written += months
    return written


def _in_progress(pathway: Pathway, conn: Connection, episode_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The active sequence of each episode of a batch, read in one search inside the batch's transaction
    (so it sees what another writer committed since the tick read the file active), and locked after
    their episodes, as every writer of a sequence locks them (docs/adr/0016)."""
    parents = ",".join(f"CarePlan/{e}" for e in episode_ids)
    found = pathway.repo.find(conn, "CarePlan", f"part-of={parents}&status=active")
    rows = pathway.repo.lock_many(conn, "CarePlan", [res_id for _, res_id in found]).values()
    current: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r.pk):  # the first match, as `Pathway.current_sequence` takes
        content = row.content or {}
        if row.deleted or content.get("status") != "active":
            continue
        for parent in content.get("partOf") or []:
            current.setdefault(str(parent.get("reference", "")).removeprefix("CarePlan/"), content)
    return current


def _commit(pathway: Pathway, episode_ids: list[str], job: Job) -> TickReport:
    """Move `episode_ids` on in one transaction, recorded by one Provenance pinning every version the
    transaction wrote (docs/adr/0016); what it did counts only once committed. With the episodes locked,
    the identifiers already written for them are read once (pathway.known), so the writes need no
    search and their index rows go in bulk at the end."""
    moved, written = TickReport(), []
    with pathway.services.db.write() as conn, pathway.repo.write_batch(conn):
        locked = pathway.repo.lock_many(conn, "CarePlan", episode_ids)  # before their sequences are read
        episodes = [dict(stored.content or {}) for stored in (locked.get(i) for i in episode_ids)
                    if stored and not stored.deleted and (stored.content or {}).get("status") == "active"]
        current = _in_progress(pathway, conn, [e["id"] for e in episodes]) if episodes else {}
        known = Known.read(pathway.repo, conn, episodes)
        for episode in episodes:
            written += _run_one(pathway, conn, episode, current.get(episode["id"]), job.today, job.now,
                                job.billed, known, moved)
        pathway.record(conn, written, job.now, "Passage du temps : séquences et forfaits (oncolink pathway tick)")
    return moved


def _outlines(pathway: Pathway, conn: Connection, query: str) -> list[dict[str, Any]]:
    """What deciding whether a CarePlan is due reads of it (id, period, extensions, partOf), extracted by
    the database: decoding every whole episode, care team included, was most of a daily tick's time."""
    content = resource.c.content
    columns = [resource.c.res_id, *(content[(name,)].label(name) for name in _OUTLINE)]
    rows = pathway.repo.columns(conn, pathway.repo.find(conn, "CarePlan", query), columns)
    return [{"id": row.res_id, **{name: row._mapping[name] for name in _OUTLINE if row._mapping[name] is not None}}
            for row in rows]


def due_work(services: Services, now: datetime) -> tuple[Job, int]:
    """The batches of episodes with something due at `now`, and how many episodes are active."""
    pathway = engine(services)
    today = pathway.today(now)
    with services.db.read() as conn:
        episodes = _outlines(pathway, conn, EPISODES)
        sequences = _outlines(pathway, conn, SEQUENCES)
        billed = services.search.token_values(conn, "ChargeItem", "identifier", f"{SID}/forfait")
    current = {str(s["partOf"][0]["reference"]): s for s in sequences if s.get("partOf")}
    due = [e["id"] for e in episodes if _due(pathway, e, current.get(f"CarePlan/{e['id']}"), today, billed)]
    size = services.settings.pathway_tick_batch
    return Job([due[first:first + size] for first in range(0, len(due), size)], today, now, billed), len(episodes)


def tick(services: Services, now: datetime) -> TickReport:
    pathway, report = engine(services), TickReport()
    job, report.episodes = due_work(services, now)
    # Batches lock disjoint episodes, so on PostgreSQL several processes write them side by side
    # (docs/adr/0018); SQLite has one writer.
    workers = services.settings.pathway_tick_workers if services.db.dialect == "postgresql" else 1
    for one in run(services.settings, job, workers, lambda batch: move_batch(pathway, job, batch)):
        report.add(one)
    return report


def move_batch(pathway: Pathway, job: Job, batch: list[str]) -> TickReport:
    """One batch in one transaction; if it fails, its episodes one transaction each, so the others move
    on and only the failing one is reported."""
    if len(batch) > 1:
        try:
            return _commit(pathway, batch, job)
        except FhirError:
            pass
    report = TickReport()
    for episode_id in batch:
        try:
            report.add(_commit(pathway, [episode_id], job))
        except FhirError as exc:
            log.warning("pathway tick: CarePlan/%s not moved on: %s", episode_id, exc)
            report.failed.append(f"CarePlan/{episode_id}")
    return report
