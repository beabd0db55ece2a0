"""`oncolink pathway tick`: time moves the pathway on.

Sequences whose period ended are closed and the next one opened (or the episode completed at its
tenth month); telemonitored episodes get the forfait of each month begun. The whole file active is read
in a few statements, and only the episodes with something due get a write transaction of their own, so
one failing episode never holds back the others and a run over 15,000 episodes stays short. Running it
twice, or from two processes, writes nothing more: every write is keyed on a business identifier.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

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


def _run_one(pathway: Pathway, episode_id: str, today: date, now: datetime, billed: set[str],
             report: TickReport) -> None:
    services = pathway.services
    with services.db.write() as conn:
        stored = pathway.repo.current(conn, "CarePlan", episode_id, lock=True)
        episode = dict(stored.content or {}) if stored and not stored.deleted else {}
        if episode.get("status") != "active":
            return
        written: list[str] = []
        last = date.fromisoformat(str(episode["period"]["end"])[:10])
        while episode.get("status") == "active":
            current = pathway.current_sequence(conn, episode_id)
            if current is None:
                break
            step = step_of(current)
            if step.end >= today and last >= today:
                break
            done = pathway.advance(conn, episode, step.end + timedelta(days=1), now)
            written += done.written
            episode = done.episode
            if episode.get("status") == "active":
                report.transitions += 1
            else:
                report.completed += 1
        if episode.get("status") == "active":
            months = pathway.bill_telemonitoring(conn, episode, today, now, billed)
            report.telemonitoring_months += len(months)
            written += months
        pathway.record(conn, written, now, "Passage du temps : séquences et forfaits (oncolink pathway tick)")


def tick(services: Services, now: datetime) -> TickReport:
    pathway, report = engine(services), TickReport()
    today = pathway.today(now)
    with services.db.read() as conn:
        episodes = pathway.repo.contents(conn, pathway.repo.find(conn, "CarePlan", EPISODES))
        sequences = pathway.repo.contents(conn, pathway.repo.find(conn, "CarePlan", SEQUENCES))
        billed = services.search.token_values(conn, "ChargeItem", "identifier", f"{SID}/forfait")
    current = {str(s["partOf"][0]["reference"]): s for s in sequences if s.get("partOf")}
    report.episodes = len(episodes)
    for episode in episodes:
        if not _due(pathway, episode, current.get(f"CarePlan/{episode['id']}"), today, billed):
            continue
        try:
            _run_one(pathway, episode["id"], today, now, billed, report)
        except FhirError as exc:
            log.warning("pathway tick: CarePlan/%s not moved on: %s", episode["id"], exc)
            report.failed.append(f"CarePlan/{episode['id']}")
    return report
