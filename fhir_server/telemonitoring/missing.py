"""Tick job: an episode under telemonitoring without a weekly response for too long raises an alert.

`check_missing(services, now)` has the pathway engine's TickJob shape; it is idempotent (an open
missing-questionnaire Flag for the patient means the alert is already raised)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..resources import instant
from . import alerts, episodes
from .tree import load_tree

if TYPE_CHECKING:
    from ..services import Services

TELEMONITORING_EXT = "https://oncolink.example.org/fhir/StructureDefinition/oncolink-telemonitoring"
ALERT = "missing-questionnaire"


@dataclass
class MissingReport:
    checked: int = 0
    alerted: list[str] = field(default_factory=list)  # patient references


def _telemonitored(episode: dict[str, object]) -> bool:
    return any(isinstance(e, dict) and e.get("url") == TELEMONITORING_EXT and e.get("valueBoolean") is True
               for e in episode.get("extension") or [])  # type: ignore[union-attr]


def _is_missing_alert(flag: dict[str, Any]) -> bool:
    """R4 Flag has no `code` or `status` search parameter, so the patient's flags are read."""
    return flag.get("status") == "active" and any(c.get("system") == alerts.ALERT_TYPE_CS and c.get("code") == ALERT
               for c in (flag.get("code") or {}).get("coding") or [])


def _parse(value: str) -> datetime:
    moment = datetime.fromisoformat(value if "T" in value else value + "T00:00:00+00:00")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_missing(services: Services, now: datetime) -> MissingReport:
    repo, report = services.repository, MissingReport()
    with services.db.write() as conn:
        found = repo.find(conn, "CarePlan", f"category={episodes.CATEGORY}|episode&status=active")
        for _, episode_id in found:
            episode = repo.read(conn, "CarePlan", episode_id).content or {}
            if not _telemonitored(episode):
                continue
            report.checked += 1
            patient = str(episode["subject"]["reference"])
            team = episodes.hospital_team(episode)
            tree = load_tree(services.settings.triage_dir, episodes.finess_of(repo, conn, team))
            bundle = services.search.search(conn, "QuestionnaireResponse", [
                ("subject", patient), ("questionnaire", tree.questionnaire), ("_sort", "-authored"), ("_count", "1")])
            last = [e["resource"]["authored"] for e in bundle.get("entry", []) if "authored" in e["resource"]]
            since = _parse(last[0] if last else str(episode.get("period", {}).get("start", instant(now))))
            if now - since < timedelta(days=tree.missing_after_days):
                continue
            if any(_is_missing_alert(repo.read(conn, "Flag", flag_id).content or {})
                   for _, flag_id in repo.find(conn, "Flag", f"subject={patient}")):
                continue
            when = instant(now)
            written = alerts.raise_alert(repo, conn, patient=patient, alert=ALERT, colour=tree.missing_colour,
                                         message=tree.messages[ALERT], when=when, team=team,
                                         episode=f"CarePlan/{episode_id}", source=None)
            alerts.record(repo, conn, written, when, {"display": "Contrôle des questionnaires Onco'Link"},
                          "Questionnaire hebdomadaire non reçu")
            report.alerted.append(patient)
    return report
