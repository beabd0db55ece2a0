"""The episode and sequence CarePlans in the shapes of the implementation guide, and their calendar.

Every resource the engine writes has a deterministic business identifier, so a replayed message, a
repeated operation or a tick run twice finds what the first one wrote instead of writing it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta

from .rules import Rules

BASE = "https://oncolink.example.org/fhir"
SD = f"{BASE}/StructureDefinition"
CS = f"{BASE}/CodeSystem"
SID = f"{BASE}/sid"
EPISODE_PROFILE = f"{SD}/oncolink-episode"
SEQUENCE_PROFILE = f"{SD}/oncolink-sequence"
CARE_TEAM_PROFILE = f"{SD}/oncolink-care-team"
PLAN_DEFINITION = f"{BASE}/PlanDefinition/oncolink-pathway"
EXT_PARCOURS = f"{SD}/oncolink-parcours"
EXT_SEQUENCE = f"{SD}/oncolink-sequence-number"
EXT_RENEWAL = f"{SD}/oncolink-sequence-renewal"
EXT_SEQ3 = f"{SD}/oncolink-sequence3-allowed"
EXT_TELEMONITORING = f"{SD}/oncolink-telemonitoring"
CATEGORY_CS = f"{CS}/oncolink-careplan-category"
ROLE_CS = f"{CS}/oncolink-care-team-role"
SEQUENCE_LABEL = {1: "Séquence 1 — initiation", 2: "Séquence 2 — suivi", 3: "Séquence 3 — suivi prolongé"}
ROLE_LABEL = {"hospital-team": "Équipe hospitalière", "community-pharmacy": "Pharmacie d'officine",
              "gp": "Médecin traitant", "idec": "Infirmière de coordination"}
OPEN = ("active", "on-hold", "draft")


@dataclass(frozen=True)
class Step:
    """One sequence of an episode: its number, its renewal rank and its calendar."""

    number: int
    renewal: int
    start: date
    end: date


def sequence_end(rules: Rules, number: int, start: date, episode_end: date) -> date:
    """A sequence covers its months up to the day before the same date (the IG's 3 Nov → 2 Dec), clipped
    to the episode."""
    return min(start + relativedelta(months=rules.sequences[number].months) - timedelta(days=1), episode_end)


def episode_end(rules: Rules, start: date) -> date:
    return start + relativedelta(months=rules.episode_months) - timedelta(days=1)


def following(rules: Rules, current: Step, seq3_allowed: bool) -> tuple[int, int]:
    """The default next sequence: 1 → 2, 2 → 3 when the treatment allows it (else 2 renewed), 3 → 3 renewed."""
    if current.number == 1:
        return 2, 0
    if current.number == 2 and seq3_allowed and 3 in rules.sequences:
        return 3, 0
    return current.number, current.renewal + 1


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def sequence_coding(number: int) -> dict[str, Any]:
    return coding(f"{CS}/oncolink-sequence", str(number), SEQUENCE_LABEL.get(number))


def extension(resource: dict[str, Any], url: str) -> Any:
    for ext in resource.get("extension") or []:
        if ext.get("url") == url:
            return next((v for k, v in ext.items() if k.startswith("value")), None)
    return None


def set_extension(resource: dict[str, Any], url: str, key: str, value: Any) -> None:
    others = [e for e in resource.get("extension") or [] if e.get("url") != url]
    resource["extension"] = [*others, {"url": url, key: value}]


def identifier(kind: str, value: str) -> dict[str, str]:
    return {"system": f"{SID}/{kind}", "value": value}


def identifier_query(kind: str, value: str) -> str:
    return f"identifier={SID}/{kind}|{value}"


@dataclass(frozen=True)
class Team:
    """The episode's care team: references of the hospital service, pharmacy, GP and optional IDEC."""

    hospital: str
    pharmacy: str
    gp: str | None = None
    idec: str | None = None

    def contained(self, patient: str) -> dict[str, Any]:
        members = [("hospital-team", self.hospital), ("community-pharmacy", self.pharmacy), ("gp", self.gp),
                   ("idec", self.idec)]
        return {"resourceType": "CareTeam", "id": "team", "meta": {"profile": [CARE_TEAM_PROFILE]},
                "status": "active", "subject": {"reference": patient},
                "participant": [{"role": [{"coding": [coding(ROLE_CS, role, ROLE_LABEL[role])]}],
                                 "member": {"reference": member}} for role, member in members if member]}


def team_of(episode: dict[str, Any]) -> Team | None:
    found: dict[str, str] = {}
    for team in episode.get("contained") or []:
        for participant in team.get("participant") or []:
            reference = (participant.get("member") or {}).get("reference")
            for role in participant.get("role") or []:
                for code in role.get("coding") or []:
                    if code.get("system") == ROLE_CS and reference:
                        found.setdefault(str(code.get("code")), str(reference))
    if "hospital-team" not in found or "community-pharmacy" not in found:
        return None
    return Team(found["hospital-team"], found["community-pharmacy"], found.get("gp"), found.get("idec"))


def new_episode(*, patient: str, request: str, condition: str, team: Team, parcours: str, seq3_allowed: bool,
                telemonitoring: bool, start: date, end: date, drug: str | None) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan", "meta": {"profile": [EPISODE_PROFILE]},
        "contained": [team.contained(patient)],
        "extension": [
            {"url": EXT_PARCOURS, "valueCoding": coding(f"{CS}/oncolink-parcours", parcours, f"Parcours {parcours}")},
            {"url": EXT_SEQUENCE, "valueCoding": sequence_coding(1)},
            {"url": EXT_SEQ3, "valueBoolean": seq3_allowed},
            {"url": EXT_TELEMONITORING, "valueBoolean": telemonitoring},
        ],
        "identifier": [identifier("episode", f"{patient.split('/', 1)[1]}/{request.split('/', 1)[1]}")],
        "instantiatesCanonical": [PLAN_DEFINITION],
        "status": "active", "intent": "plan",
        "category": [{"coding": [coding(CATEGORY_CS, "episode", "Épisode Onco'Link")]}],
        "title": f"Épisode Onco'Link — {drug}" if drug else "Épisode Onco'Link",
        "subject": {"reference": patient},
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "careTeam": [{"reference": "#team"}],
        "addresses": [{"reference": condition}],
        "activity": [{"reference": {"reference": request}}],
    }


def new_sequence(episode: dict[str, Any], step: Step) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan", "meta": {"profile": [SEQUENCE_PROFILE]},
        "extension": [{"url": EXT_SEQUENCE, "valueCoding": sequence_coding(step.number)},
                      {"url": EXT_RENEWAL, "valueUnsignedInt": step.renewal}],
        "identifier": [identifier("sequence", f"{episode['id']}/{step.number}/{step.renewal}")],
        "status": "active", "intent": "plan",
        "category": [{"coding": [coding(CATEGORY_CS, "sequence", "Séquence Onco'Link")]}],
        "title": SEQUENCE_LABEL.get(step.number, f"Séquence {step.number}")
        + (f" (renouvellement {step.renewal})" if step.renewal else ""),
        "partOf": [{"reference": f"CarePlan/{episode['id']}"}],
        "subject": episode["subject"],
        "period": {"start": step.start.isoformat(), "end": step.end.isoformat()},
    }


def step_of(sequence: dict[str, Any]) -> Step:
    period = sequence.get("period") or {}
    number = extension(sequence, EXT_SEQUENCE) or {}
    return Step(int(number.get("code", 1)), int(extension(sequence, EXT_RENEWAL) or 0),
                date.fromisoformat(str(period["start"])[:10]), date.fromisoformat(str(period["end"])[:10]))


def is_episode(resource: dict[str, Any]) -> bool:
    return resource.get("resourceType") == "CarePlan" and any(
        c.get("system") == CATEGORY_CS and c.get("code") == "episode"
        for concept in resource.get("category") or [] for c in concept.get("coding") or [])


def parcours_of(episode: dict[str, Any]) -> str:
    return str((extension(episode, EXT_PARCOURS) or {}).get("code", "A"))


def activities(episode: dict[str, Any]) -> list[str]:
    return [str(a["reference"]["reference"]) for a in episode.get("activity") or []
            if (a.get("reference") or {}).get("reference")]
