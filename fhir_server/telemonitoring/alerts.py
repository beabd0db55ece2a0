"""The resources of one alert (Flag, nurse Task, patient Communication) and their Provenance."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from ..repository import Repository

BASE = "https://oncolink.example.org/fhir"
COLOUR_EXT = f"{BASE}/StructureDefinition/oncolink-alert-colour"
COLOUR_CS = f"{BASE}/CodeSystem/oncolink-alert-colour"
ALERT_TYPE_CS = f"{BASE}/CodeSystem/oncolink-alert-type"
COLOUR_LABEL = {"green": "Vert", "orange": "Orange", "red": "Rouge"}


def colour_extension(colour: str) -> dict[str, Any]:
    return {"url": COLOUR_EXT, "valueCoding": {"system": COLOUR_CS, "code": colour, "display": COLOUR_LABEL[colour]}}


def colour_of(resource: dict[str, Any]) -> str | None:
    for ext in resource.get("extension") or []:
        if ext.get("url") == COLOUR_EXT:
            return str((ext.get("valueCoding") or {}).get("code"))
    return None


def raise_alert(repo: Repository, conn: Connection, *, patient: str, alert: str, colour: str, message: str,
                when: str, team: str | None, episode: str | None, source: str | None) -> list[str]:
    """Write Flag + Task + Communication for one alert type; answer their references."""
    subject = {"reference": patient}
    flag: dict[str, Any] = {
        "resourceType": "Flag", "meta": {"profile": [f"{BASE}/StructureDefinition/oncolink-alert-flag"]},
        "extension": [colour_extension(colour)], "status": "active",
        "code": {"coding": [{"system": ALERT_TYPE_CS, "code": alert}]}, "subject": subject,
        "period": {"start": when}}
    if source:
        flag["extension"].append({"url": "http://hl7.org/fhir/StructureDefinition/flag-detail",
                                  "valueReference": {"reference": source}})
    flag_ref = "Flag/" + repo.create(conn, "Flag", flag).stored.res_id
    task: dict[str, Any] = {
        "resourceType": "Task", "meta": {"profile": [f"{BASE}/StructureDefinition/oncolink-task"]},
        "extension": [colour_extension(colour)], "status": "requested", "intent": "order",
        "priority": "urgent" if colour == "red" else "asap",
        "code": {"coding": [{"system": f"{BASE}/CodeSystem/oncolink-task-type", "code": "alert-handling"}]},
        "focus": {"reference": flag_ref}, "for": subject, "authoredOn": when}
    if team:
        task["owner"] = {"reference": team}
    if episode:
        task["basedOn"] = [{"reference": episode}]
    task_ref = "Task/" + repo.create(conn, "Task", task).stored.res_id
    about = [{"reference": flag_ref}] + ([{"reference": source}] if source else [])
    message_ref = "Communication/" + repo.create(conn, "Communication", {
        "resourceType": "Communication", "meta": {"profile": [f"{BASE}/StructureDefinition/oncolink-message"]},
        "status": "completed",
        "category": [{"coding": [{"system": f"{BASE}/CodeSystem/oncolink-message-category",
                                  "code": "patient-alert-message"}]}],
        "subject": subject, "recipient": [subject], "reasonCode": [{"coding": [{"system": ALERT_TYPE_CS,
                                                                                  "code": alert}]}],
        "about": about, "sent": when, "payload": [{"contentString": message}]}).stored.res_id
    return [flag_ref, task_ref, message_ref]


def record(repo: Repository, conn: Connection, targets: list[str], when: str, who: dict[str, Any],
           activity: str, source: str | None = None) -> None:
    """One Provenance for what a triage or a nurse's handling wrote (targets pinned to their versions)."""
    refs = list(dict.fromkeys(targets))
    versions = repo.version_ids(conn, refs)  # one statement, not one read per target
    pinned = [{"reference": f"{ref}/_history/{versions[ref]}"} for ref in refs]
    provenance: dict[str, Any] = {
        "resourceType": "Provenance", "target": pinned, "recorded": when,
        "activity": {"text": activity}, "agent": [{"who": who}]}
    if source:
        provenance["entity"] = [{"role": "source", "what": {"reference": source}}]
    repo.create(conn, "Provenance", provenance)
