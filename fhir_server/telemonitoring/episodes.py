"""The patient's open episode and the establishment that follows it (for its own triage tree)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from ..repository import Repository

CATEGORY = "https://oncolink.example.org/fhir/CodeSystem/oncolink-careplan-category"
ROLE = "https://oncolink.example.org/fhir/CodeSystem/oncolink-care-team-role"
FINESS = "urn:oid:1.2.250.1.71.4.2.2"


def active_episode(repo: Repository, conn: Connection, patient_id: str) -> dict[str, Any] | None:
    found = repo.find(conn, "CarePlan", f"subject=Patient/{patient_id}&category={CATEGORY}|episode&status=active")
    return repo.read(conn, "CarePlan", found[0][1]).content if found else None


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
