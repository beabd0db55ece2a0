"""Write listener: what a new or changed prescription means for the pathway.

- a new eligible prescription for a patient not enrolled → a Task "inclusion à proposer" for the
  coordinating nurse (never an enrolment: that needs the patient's consent);
- a new eligible prescription for an enrolled patient → it joins the episode, and when it comes in the
  last days of the current sequence (or after), it is the renewal that opens the next sequence;
- a prescription of the episode stopped or cancelled (DC/CA from the DPI) with no other one active →
  the episode ends (`revoked`).

It runs inside the transaction that wrote the prescription (the DPI's transaction Bundle included), so
the message is acknowledged only with its consequences committed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection

from ..repository import Stored
from ..resources import instant, now_ms
from ..telemonitoring.episodes import active_episodes
from .eligibility import judge
from .enrolment import TASK_CS, medication_of
from .plans import activities, identifier, identifier_query, step_of
from .transitions import Pathway

TASK_PROFILE = "https://oncolink.example.org/fhir/StructureDefinition/oncolink-task"
ENDED = ("stopped", "cancelled", "entered-in-error")

# The open episode of a patient (`Patient/id`), as the listener call found it (re-read under its lock).
EpisodeOf = Callable[[str], dict[str, Any] | None]


def _authored(request: dict[str, Any], fallback: date) -> date:
    try:
        return date.fromisoformat(str(request.get("authoredOn", ""))[:10])
    except ValueError:
        return fallback


def _locked(pathway: Pathway, conn: Connection, episode: dict[str, Any] | None) -> dict[str, Any] | None:
    """The episode read again under its row lock, which every writer of its sequences, forfaits and
    triggers takes first (pathway.known); None when it is no longer active."""
    if episode is None:
        return None
    stored = pathway.repo.current(conn, "CarePlan", str(episode["id"]), lock=True)
    content = stored.content if stored and not stored.deleted else None
    return content if content and content.get("status") == "active" else None


class PrescriptionListener:
    def __init__(self, pathway: Pathway) -> None:
        self.pathway = pathway

    def __call__(self, conn: Connection, written: Sequence[Stored]) -> None:
        requests = []
        for stored in written:
            if stored.res_type != "MedicationRequest" or stored.content is None:
                continue
            patient = str((stored.content.get("subject") or {}).get("reference") or "")
            if patient.startswith("Patient/"):
                requests.append((stored, patient))
        if not requests:
            return
        episode_of = self._episodes(conn, [patient.split("/", 1)[1] for _, patient in requests])
        for stored, patient in requests:
            request = stored.content or {}
            if request.get("status") in ENDED:
                self._stopped(conn, stored, patient, episode_of)
            elif stored.version_id == 1 and request.get("status") == "active":
                self._new(conn, stored, patient, episode_of)

    def _episodes(self, conn: Connection, patient_ids: list[str]) -> EpisodeOf:
        """The open episodes of these patients, searched once, when first needed: a transaction holding
        many prescriptions (a DPI's group of messages) costs one search, not one per prescription. The
        listener never opens an episode, and `_locked` re-reads the one found, so what the first
        prescriptions change cannot make the answer wrong for the next ones."""
        found: dict[str, dict[str, Any]] | None = None

        def episode_of(patient: str) -> dict[str, Any] | None:
            nonlocal found
            if found is None:
                found = active_episodes(self.pathway.repo, conn, patient_ids)
            return found.get(patient.split("/", 1)[1])

        return episode_of

    def _new(self, conn: Connection, stored: Stored, patient: str, episode_of: EpisodeOf) -> None:
        pathway, request = self.pathway, stored.content or {}
        verdict = judge(request, medication_of(pathway, conn, request), pathway.rules)
        if not verdict.eligible:
            return
        now = now_ms()
        source = f"MedicationRequest/{stored.res_id}/_history/{stored.version_id}"
        episode = _locked(pathway, conn, episode_of(patient))
        if episode is None:
            self._propose(conn, stored, patient, now, source)
            return
        reference = f"MedicationRequest/{stored.res_id}"
        if reference in activities(episode):
            return
        episode = {**episode, "activity": [*(episode.get("activity") or []), {"reference": {"reference": reference}}]}
        episode = dict(pathway.repo.update(conn, "CarePlan", episode["id"], episode).stored.content or {})
        written = [f"CarePlan/{episode['id']}"]
        current = pathway.current_sequence(conn, episode["id"])
        authored = _authored(request, pathway.today(now))
        if current is not None and authored >= step_of(current).end - timedelta(days=pathway.rules.renewal_window_days):
            written += pathway.advance(conn, episode, current,
                                       min(authored, step_of(current).end + timedelta(days=1)), now).written
        pathway.record(conn, written, now, "Prescription de renouvellement", source=source)

    def _propose(self, conn: Connection, stored: Stored, patient: str, now: Any, source: str) -> None:
        key = f"MedicationRequest/{stored.res_id}"
        task = {
            "resourceType": "Task", "meta": {"profile": [TASK_PROFILE]},
            "identifier": [identifier("inclusion-proposal", key)],
            "status": "requested", "intent": "order", "priority": "routine",
            "code": {"coding": [{"system": TASK_CS, "code": "inclusion-proposal", "display": "Inclusion à proposer"}]},
            "description": "Prescription d'anticancéreux oral éligible au parcours Onco'Link : proposer l'inclusion "
                           "au patient et recueillir son consentement.",
            "focus": {"reference": key}, "for": {"reference": patient}, "authoredOn": instant(now),
        }
        result = self.pathway.repo.create(conn, "Task", task, if_none_exist=identifier_query("inclusion-proposal", key))
        if result.created:
            self.pathway.record(conn, [f"Task/{result.stored.res_id}"], now, "Inclusion à proposer", source=source)

    def _stopped(self, conn: Connection, stored: Stored, patient: str, episode_of: EpisodeOf) -> None:
        pathway = self.pathway
        episode = _locked(pathway, conn, episode_of(patient))
        reference = f"MedicationRequest/{stored.res_id}"
        if episode is None or reference not in activities(episode):
            return
        for other in activities(episode):
            if other == reference or not other.startswith("MedicationRequest/"):
                continue
            found = pathway.repo.current(conn, "MedicationRequest", other.split("/", 1)[1])
            if found and found.content and found.content.get("status") in ("active", "on-hold"):
                return
        now = now_ms()
        label = {"stopped": "arrêté", "cancelled": "annulé"}.get(str((stored.content or {}).get("status")), "retiré")
        done = pathway.end(conn, episode, pathway.current_sequence(conn, episode["id"]), pathway.today(now), now,
                           "revoked",
                           f"le traitement anticancéreux oral a été {label} par l'équipe hospitalière.")
        pathway.record(conn, done.written, now, "Arrêt du traitement : fin de l'épisode",
                       source=f"{reference}/_history/{stored.version_id}")
