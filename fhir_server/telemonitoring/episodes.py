"""The patient's open episode and the establishment that follows it (for its own triage tree)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection

from ..repository import Repository

CATEGORY = "https://oncolink.example.org/fhir/CodeSystem/oncolink-careplan-category"
ROLE = "https://oncolink.example.org/fhir/CodeSystem/oncolink-care-team-role"
FINESS = "urn:oid:1.2.250.1.71.4.2.2"


def active_episode(repo: Repository, conn: Connection, patient_id: str) -> dict[str, Any] | None:
    found = repo.find(conn, "CarePlan", f"subject=Patient/{patient_id}&category={CATEGORY}|episode&status=active")
    return repo.read(conn, "CarePlan", found[0][1]).content if found else None


def active_episodes(repo: Repository, conn: Connection, patient_ids: Collection[str]) -> dict[str, dict[str, Any]]:
    """The open episode of each of these patients that has one, by patient id, in one search: the
    listeners of a transaction writing several patients' prescriptions (a DPI's group of messages) ask
    once, not once per prescription. An episode whose subject is not written `Patient/id` is looked up
    for its patient alone, as `active_episode` does."""
    ids = list(dict.fromkeys(patient_ids))
    if len(ids) <= 1:
        return {i: episode for i in ids if (episode := active_episode(repo, conn, i)) is not None}
    subjects = ",".join(f"Patient/{i}" for i in ids)
    found = repo.find(conn, "CarePlan", f"subject={subjects}&category={CATEGORY}|episode&status=active")
    episodes: dict[str, dict[str, Any]] = {}
    unplaced = False
    for _, episode_id in found:
        content = repo.read(conn, "CarePlan", episode_id).content or {}
        subject = str((content.get("subject") or {}).get("reference") or "")
        patient = subject.removeprefix("Patient/")
        if patient in ids:
            episodes.setdefault(patient, content)
        else:
            unplaced = True
    if unplaced:
        for i in ids:
            if i not in episodes and (episode := active_episode(repo, conn, i)) is not None:
                episodes[i] = episode
    return episodes


def hospital_team(episode: dict[str, Any]) -> str | None:
    """Reference of the hospital Organization in the episode's contained care team."""
    for team in episode.get("contained") or []:
        for participant in team.get("participant") or []:
            codes = {c.get("code") for r in participant.get("role") or [] for c in r.get("coding") or []
                     if c.get("system") == ROLE}
            reference = (participant.get("member") or {}).get("reference", "")
            if "hospital-team" in codes and reference.startswith("Organization/"):
                return str(reference)
    return None


def finess_of(repo: Repository, conn: Connection, org_reference: str | None) -> str | None:
    if not org_reference:
        return None
    org = repo.current(conn, "Organization", org_reference.split("/", 1)[1])
    for identifier in (org.content or {}).get("identifier", []) if org and not org.deleted else []:
        if identifier.get("system") == FINESS and identifier.get("value"):
            return str(identifier["value"])
    return None
