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
from .forfaits import telemonitoring_months
from .plans import EXT_TELEMONITORING, SID, extension, step_of
from .transitions import Pathway, engine

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)
EPISODES = "category=https://oncolink.example.org/fhir/CodeSystem/oncolink-careplan-category|episode&status=active"
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


def _run_one(pathway: Pathway, conn: Connection, episode_id: str, today: date, now: datetime, billed: set[str],
             report: TickReport) -> None:
    stored = pathway.repo.current(conn, "CarePlan", episode_id, lock=True)
    episode = dict(stored.content or {}) if stored and not stored.deleted else {}
    if episode.get("status") != "active":
        return
    written: list[str] = []
    last = date.fromisoformat(str(episode["period"]["end"])[:10])
    current = pathway.current_sequence(conn, episode_id)
    while episode.get("status") == "active" and current is not None:
        step = step_of(current)
        if step.end >= today and last >= today:
            break
        done = pathway.advance(conn, episode, current, step.end + timedelta(days=1), now)
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
        months = pathway.bill_telemonitoring(conn, episode, today, now, billed)
        report.telemonitoring_months += len(months)
        written += months
    pathway.record(conn, written, now, "Passage du temps : séquences et forfaits (oncolink pathway tick)")


def _commit(pathway: Pathway, episode_ids: list[str], today: date, now: datetime, billed: set[str]) -> TickReport:
    """Move `episode_ids` on in one transaction; what it did counts only once committed."""
    moved = TickReport()
    with pathway.services.db.write() as conn:
        for episode_id in episode_ids:
            _run_one(pathway, conn, episode_id, today, now, billed, moved)
    return moved


def tick(services: Services, now: datetime) -> TickReport:
    pathway, report = engine(services), TickReport()
    today = pathway.today(now)
    with services.db.read() as conn:
        episodes = pathway.repo.contents(conn, pathway.repo.find(conn, "CarePlan", EPISODES))
        sequences = pathway.repo.contents(conn, pathway.repo.find(conn, "CarePlan", SEQUENCES))
        billed = services.search.token_values(conn, "ChargeItem", "identifier", f"{SID}/forfait")
    current = {str(s["partOf"][0]["reference"]): s for s in sequences if s.get("partOf")}
    report.episodes = len(episodes)
    due = [e["id"] for e in episodes if _due(pathway, e, current.get(f"CarePlan/{e['id']}"), today, billed)]
    size = services.settings.pathway_tick_batch
    for first in range(0, len(due), size):
        batch = due[first:first + size]
        if len(batch) > 1:
            try:
                report.add(_commit(pathway, batch, today, now, billed))
                continue
            except FhirError:
                pass  # retried one by one below: the others move on, the failing one is reported
        for episode_id in batch:
            try:
                report.add(_commit(pathway, [episode_id], today, now, billed))
            except FhirError as exc:
                log.warning("pathway tick: CarePlan/%s not moved on: %s", episode_id, exc)
                report.failed.append(f"CarePlan/{episode_id}")
    return report
