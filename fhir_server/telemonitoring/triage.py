"""Write listener: each new weekly questionnaire response is checked, scored and turned into alerts in
the transaction that stores it, so a response is never kept without its triage (or the reverse)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from ..errors import Unprocessable
from ..repository import Stored
from ..resources import instant, now_ms
from ..validation.validator import has_errors
from . import alerts, episodes
from .tree import answers_of, load_tree, worst

if TYPE_CHECKING:
    from ..services import Services

PRO_PROFILE = "https://oncolink.example.org/fhir/StructureDefinition/oncolink-pro-response"
TRIAGE_AGENT = {"display": "Tri automatique Onco'Link"}


def answers_questionnaire(response: dict[str, Any], canonical: str) -> bool:
    return str(response.get("questionnaire", "")).split("|", 1)[0] == canonical


class TriageListener:
    def __init__(self, services: Services) -> None:
        self.services = services

    def __call__(self, conn: Connection, written: Sequence[Stored]) -> None:
        for stored in written:
            content = stored.content
            if stored.res_type != "QuestionnaireResponse" or content is None or alerts.colour_of(content):
                continue
            default = load_tree(self.services.settings.triage_dir, None)
            if answers_questionnaire(content, default.questionnaire) and content.get("status") in (
                    "completed", "amended"):
                self.triage(conn, stored)

    def _check(self, response: dict[str, Any]) -> None:
        """A response claiming our profile was checked on write; one that does not is checked here, so the
        answers always fit the questionnaire before anything is scored."""
        if PRO_PROFILE in ((response.get("meta") or {}).get("profile") or []):
            return
        issues = self.services.profile_validator.validate(
            response, resource_type="QuestionnaireResponse", profiles=[PRO_PROFILE], claimed=False)
        if has_errors(issues):
            raise Unprocessable(issues)

    def triage(self, conn: Connection, stored: Stored) -> None:
        repo = self.services.repository
        response = dict(stored.content or {})
        self._check(response)
        patient = str(response["subject"]["reference"])
        episode = episodes.active_episode(repo, conn, patient.split("/", 1)[1])
        team = episodes.hospital_team(episode) if episode else None
        tree = load_tree(self.services.settings.triage_dir, episodes.finess_of(repo, conn, team))
        found = tree.score(answers_of(response))
        colour = worst(list(found.values()))
        response["extension"] = [*(response.get("extension") or []), alerts.colour_extension(colour)]
        source = f"QuestionnaireResponse/{stored.res_id}"
        when = instant(now_ms())
        written = [source]
        episode_ref = f"CarePlan/{episode['id']}" if episode else None
        # The five to seven writes below search nothing: their index rows go in one statement per table.
        with repo.deferred_indexing(conn):
            repo.update(conn, "QuestionnaireResponse", stored.res_id, response)
            for alert, alert_colour in found.items():
                written += alerts.raise_alert(repo, conn, patient=patient, alert=alert, colour=alert_colour,
                                              message=tree.messages[alert], when=when, team=team,
                                              episode=episode_ref, source=source)
            alerts.record(repo, conn, written, when, TRIAGE_AGENT, f"Tri du questionnaire : {colour}",
                          source=f"{source}/_history/{stored.version_id}")
