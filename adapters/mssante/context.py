"""Read, through the FHIR API, everything a trigger's messages will say, and freeze it as a snapshot.

The snapshot is stored with the trigger, so the messages describe the care plan as it was when the
trigger was taken in (a retry hours later sends the same content), and composing needs no FHIR call.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from adapters.fhir_client import FhirClient, FhirResponseError

from .facts import EXT_SEQUENCE, care_team_of

CAREPLAN_CATEGORY = "https://oncolink.example.org/fhir/CodeSystem/oncolink-careplan-category"
RECIPIENT_ROLES = ("community-pharmacy", "gp")


def trigger_key(communication: dict[str, Any]) -> str:
    """Idempotency key: the trigger id the pathway engine put in the identifier, else the resource id."""
    for ident in communication.get("identifier") or []:
        if ident.get("value"):
            return f"{ident.get('system') or ''}|{ident['value']}"[:255]
    return f"Communication/{communication['id']}"


def _local(ref: str | None) -> tuple[str, str] | None:
    """`Type/id` of a relative reference (absolute URLs, contained and conditional ones are not followed)."""
    if not ref or ref.startswith("#") or "?" in ref or "://" in ref or ref.startswith("urn:"):
        return None
    parts = ref.split("/")
    if len(parts) >= 2 and parts[-2][:1].isupper():
        return parts[-2], parts[-1]
    return None


def _categories(resource: dict[str, Any]) -> set[str]:
    return {c.get("code") for concept in resource.get("category") or [] for c in concept.get("coding") or []
            if c.get("system") == CAREPLAN_CATEGORY}


def _sequence_number(careplan: dict[str, Any]) -> str | None:
    ext = next((e for e in careplan.get("extension") or [] if e.get("url") == EXT_SEQUENCE), None)
    return ((ext or {}).get("valueCoding") or {}).get("code")


class ContextReader:
    def __init__(self, client: FhirClient) -> None:
        self.client = client

    async def read(self, ref: str | None) -> dict[str, Any] | None:
        target = _local(ref)
        if target is None:
            return None
        try:
            return await self.client.read(*target)
        except FhirResponseError as exc:
            if exc.status in (404, 410):
                return None
            raise

    async def snapshot(self, communication: dict[str, Any], *, base: str = "") -> tuple[dict[str, Any], list[str]]:
        """The snapshot and the recipients' references (one message each)."""
        refs = [r.get("reference") for r in (communication.get("about") or []) + (communication.get("basedOn") or [])]
        linked = [r for r in await asyncio.gather(*(self.read(ref) for ref in refs if ref)) if r]
        careplans = [r for r in linked if r.get("resourceType") == "CarePlan"]
        flags = [r for r in linked if r.get("resourceType") == "Flag"]
        episode = next((c for c in careplans if "episode" in _categories(c)), None)
        sequence = next((c for c in careplans if "sequence" in _categories(c)), None)
        if episode is None and sequence is not None:
            episode = await self.read(next((p.get("reference") for p in sequence.get("partOf") or []), None))
        if episode is None and careplans:
            episode = careplans[0]
        if sequence is None and episode is not None and episode.get("id"):
            sequence = await self._current_sequence(episode)
        patient = await self.read((communication.get("subject") or {}).get("reference")) or \
            (await self.read((episode or {}).get("subject", {}).get("reference")) if episode else None)
        medications = [m for m in await asyncio.gather(*(
            self.read((a.get("reference") or {}).get("reference")) for a in (episode or {}).get("activity") or []))
            if m and m.get("resourceType") == "MedicationRequest"]
        prescriber = None
        for request in medications:
            requester = await self.read((request.get("requester") or {}).get("reference"))
            if requester and requester.get("resourceType") == "PractitionerRole":
                requester = await self.read((requester.get("practitioner") or {}).get("reference"))
            if requester and requester.get("resourceType") == "Practitioner":
                prescriber = requester
                break
        team = care_team_of(episode)
        hospital = None
        resources: dict[str, dict[str, Any]] = {}
        for participant in (team or {}).get("participant") or []:
            ref = (participant.get("member") or {}).get("reference")
            member = await self.read(ref)
            if member and ref:
                resources[ref] = member
                codes = {c.get("code") for r in participant.get("role") or [] for c in r.get("coding") or []}
                if "hospital-team" in codes and member.get("resourceType") == "Organization":
                    hospital = member
        recipients = await self._recipients(communication, team, resources)
        snapshot = {
            "trigger_key": trigger_key(communication), "taken_at": datetime.now(UTC).isoformat(), "base": base,
            "communication": communication, "patient": patient or {}, "episode": episode, "sequence": sequence,
            "medications": medications, "prescriber": prescriber, "hospital": hospital, "flags": flags,
            "resources": resources,
        }
        return snapshot, recipients

    async def _current_sequence(self, episode: dict[str, Any]) -> dict[str, Any] | None:
        current = _sequence_number(episode)
        try:
            bundle = await self.client.search("CarePlan", {"part-of": f"CarePlan/{episode['id']}", "_count": "50"})
        except FhirResponseError:
            return None
        plans = [e["resource"] for e in bundle.get("entry") or [] if "resource" in e]
        plans = [p for p in plans if "sequence" in _categories(p)] or plans
        same = [p for p in plans if _sequence_number(p) == current] or plans
        return max(same, key=lambda p: (p.get("period") or {}).get("start") or "", default=None)

    async def _recipients(self, communication: dict[str, Any], team: dict[str, Any] | None,
                          resources: dict[str, dict[str, Any]]) -> list[str]:
        refs: list[str] = []
        for recipient in communication.get("recipient") or []:
            ref = recipient.get("reference")
            target = _local(ref)
            if target is None or ref is None:
                continue
            if target[0] == "CareTeam":
                care_team = await self.read(ref)
                for participant in (care_team or {}).get("participant") or []:
                    codes = {c.get("code") for r in participant.get("role") or [] for c in r.get("coding") or []}
                    member = (participant.get("member") or {}).get("reference")
                    if member and codes & set(RECIPIENT_ROLES):
                        refs.append(member)
            else:
                refs.append(ref)
        if not refs:  # a manual message without recipients goes to the community side of the care team
            for participant in (team or {}).get("participant") or []:
                codes = {c.get("code") for r in participant.get("role") or [] for c in r.get("coding") or []}
                member = (participant.get("member") or {}).get("reference")
                if member and codes & set(RECIPIENT_ROLES):
                    refs.append(member)
        unique = list(dict.fromkeys(refs))
        for ref in unique:
            if ref not in resources:
                resource = await self.read(ref)
                if resource:
                    resources[ref] = resource
            resource = resources.get(ref) or {}
            if resource.get("resourceType") == "PractitionerRole":
                for key in ("practitioner", "organization"):
                    linked_ref = (resource.get(key) or {}).get("reference")
                    if linked_ref and linked_ref not in resources:
                        linked = await self.read(linked_ref)
                        if linked:
                            resources[linked_ref] = linked
        return unique
