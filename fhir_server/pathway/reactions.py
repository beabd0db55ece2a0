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
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from ..repository import Stored
from ..resources import instant, new_id, now_ms
from ..telemonitoring.episodes import active_episodes
from .eligibility import judge
from .enrolment import TASK_CS, medication_of
from .plans import activities, identifier, identifier_query, step_of
from .transitions import Pathway, Record

TASK_PROFILE = "https://oncolink.example.org/fhir/StructureDefinition/oncolink-task"
ENDED = ("stopped", "cancelled", "entered-in-error")

# The open episode of a patient (`Patient/id`), as the listener call found it (re-read under its lock).
EpisodeOf = Callable[[str], dict[str, Any] | None]


@dataclass(frozen=True)
class Proposal:
    """An eligible new prescription of a patient with no open episode: the nurse proposes inclusion."""

    request: str  # MedicationRequest/id
    patient: str  # Patient/id
    now: datetime
    source: str  # the prescription's version


def _task(proposal: Proposal) -> dict[str, Any]:
    return {
        "resourceType": "Task", "meta": {"profile": [TASK_PROFILE]},
        "identifier": [identifier("inclusion-proposal", proposal.request)],
        "status": "requested", "intent": "order", "priority": "routine",
        "code": {"coding": [{"system": TASK_CS, "code": "inclusion-proposal", "display": "Inclusion à proposer"}]},
        "description": "Prescription d'anticancéreux oral éligible au parcours Onco'Link : proposer l'inclusion "
                       "au patient et recueillir son consentement.",
        "focus": {"reference": proposal.request}, "for": {"reference": proposal.patient},
        "authoredOn": instant(proposal.now),
    }


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
        medications: dict[str, dict[str, Any] | None] = {}
        proposals: list[Proposal] = []
        for stored, patient in requests:
            request = stored.content or {}
            if request.get("status") in ENDED:
                self._stopped(conn, stored, patient, episode_of)
            elif stored.version_id == 1 and request.get("status") == "active":
                self._new(conn, stored, patient, episode_of, medications, proposals)
        self._propose(conn, proposals)

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

    def _new(self, conn: Connection, stored: Stored, patient: str, episode_of: EpisodeOf,
             medications: dict[str, dict[str, Any] | None], proposals: list[Proposal]) -> None:
        """`medications`: the drugs this call read, by reference (the prescriptions of a group of DPI
        messages share theirs); `proposals` gathers the inclusion Tasks to create."""
        pathway, request = self.pathway, stored.content or {}
        drug = str((request.get("medicationReference") or {}).get("reference") or "")
        if drug.startswith("Medication/"):
            if drug not in medications:
                medications[drug] = medication_of(pathway, conn, request)
            medication = medications[drug]
        else:
            medication = medication_of(pathway, conn, request)
        if not judge(request, medication, pathway.rules).eligible:
            return
        now = now_ms()
        source = f"MedicationRequest/{stored.res_id}/_history/{stored.version_id}"
        episode = _locked(pathway, conn, episode_of(patient))
        if episode is None:
            proposals.append(Proposal(f"MedicationRequest/{stored.res_id}", patient, now, source))
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

    def _propose(self, conn: Connection, proposals: list[Proposal]) -> None:
        """An "inclusion à proposer" Task per proposal, unless one exists (replays), each recorded by a
        Provenance: the identifiers matched by one statement, the Tasks and the Provenances written by
        one each, for all the prescriptions of the transaction."""
        if not proposals:
            return
        repo = self.pathway.repo
        found = repo.match_many(conn, [("Task", identifier_query("inclusion-proposal", p.request), "If-None-Exist")
                                       for p in proposals])
        fresh = [p for p, match in zip(proposals, found, strict=True) if match is None]
        tasks = repo.create_many(conn, [("Task", new_id(), repo.check("Task", _task(p))) for p in fresh])
        self.pathway.record_many(conn, [Record([f"Task/{t.stored.res_id}"], p.now, "Inclusion à proposer",
                                               source=p.source) for p, t in zip(fresh, tasks, strict=True)])

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
