"""Write listener: an episode's oral anticancer drug against the patient's other active prescriptions,
by the interaction table in `mappings/interactions.yaml`. Each pair found yields one DetectedIssue,
created conditionally on an identifier naming the rule and both prescriptions, so replays add none."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import yaml
from sqlalchemy import Connection

from ..repository import Repository, Stored
from ..resources import instant, now_ms
from ..store.tables import resource_version
from . import episodes

if TYPE_CHECKING:
    from ..services import Services

ATC = "http://www.whocc.no/atc"
IDENTIFIER = "https://oncolink.example.org/fhir/sid/interaction"
SEVERITIES = ("high", "moderate", "low")


@dataclass(frozen=True)
class InteractionRule:
    id: str
    with_atc: tuple[str, ...]
    anticancer_atc: tuple[str, ...]
    severity: str
    label: str
    detail: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    anticancer_atc: tuple[str, ...]
    rules: tuple[InteractionRule, ...]


@lru_cache(maxsize=8)
def load_table(path: Path) -> Table:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        rules = tuple(InteractionRule(str(r["id"]), tuple(r["with_atc"]), tuple(r.get("anticancer_atc") or ()),
                                      str(r["severity"]), str(r["label"]), " ".join(str(r["detail"]).split()),
                                      tuple(r.get("sources") or ())) for r in data["rules"])
        table = Table(tuple(data["anticancer_atc"]), rules)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: malformed interaction table ({exc!r})") from exc
    for rule in rules:
        if rule.severity not in SEVERITIES:
            raise ValueError(f"{path}: rule {rule.id} has severity {rule.severity!r}; use one of {SEVERITIES}")
    return table


def atc_codes(repo: Repository, conn: Connection, request: dict[str, Any]) -> list[str]:
    """ATC codes of a MedicationRequest's drug, inline or on the referenced Medication."""
    concept = request.get("medicationCodeableConcept")
    reference = str((request.get("medicationReference") or {}).get("reference", ""))
    if concept is None and reference.startswith("Medication/"):
        medication = repo.current(conn, "Medication", reference.split("/", 1)[1])
        concept = (medication.content or {}).get("code") if medication and not medication.deleted else None
    return [str(c["code"]) for c in (concept or {}).get("coding") or [] if c.get("system") == ATC and c.get("code")]


def _matches(codes: list[str], prefixes: tuple[str, ...]) -> bool:
    return any(code.startswith(prefix) for code in codes for prefix in prefixes)


def _newly_active(conn: Connection, stored: Stored) -> bool:
    """Whether this episode version made the episode active. A version that keeps it active (the tick
    moving it to its next sequence) cannot bring a new pair: prescriptions are checked as they are
    written, so only an episode becoming active needs the patient's prescriptions read again."""
    if (stored.content or {}).get("status") != "active":
        return False
    if stored.version_id <= 1:
        return True
    v = resource_version.c
    before = conn.execute(sa.select(v.content).where(v.res_pk == stored.pk, v.version_id == stored.version_id - 1)
                          ).scalar()
    return (before or {}).get("status") != "active"


class InteractionListener:
    def __init__(self, services: Services) -> None:
        self.services = services

    def __call__(self, conn: Connection, written: Sequence[Stored]) -> None:
        patients: dict[str, None] = {}
        for stored in written:
            content = stored.content or {}
            if stored.res_type == "MedicationRequest" or (
                    stored.res_type == "CarePlan" and any(
                        c.get("code") == "episode" for cat in content.get("category") or []
                        for c in cat.get("coding") or []) and _newly_active(conn, stored)):
                reference = str((content.get("subject") or {}).get("reference", ""))
                if reference.startswith("Patient/"):
                    patients[reference.split("/", 1)[1]] = None
        followed = episodes.active_episodes(self.services.repository, conn, patients)
        for patient_id in (p for p in patients if p in followed):
            self.check(conn, patient_id)

    def check(self, conn: Connection, patient_id: str) -> None:
        """The pairs of a patient whose episode is open."""
        repo = self.services.repository
        table = load_table(self.services.settings.interactions_file)
        active = [(mr_id, atc_codes(repo, conn, repo.read(conn, "MedicationRequest", mr_id).content or {}))
                  for _, mr_id in repo.find(conn, "MedicationRequest", f"subject=Patient/{patient_id}&status=active")]
        anticancer = [(i, c) for i, c in active if _matches(c, table.anticancer_atc)]
        for rule in table.rules:
            for cancer_id, cancer_codes in anticancer:
                if rule.anticancer_atc and not _matches(cancer_codes, rule.anticancer_atc):
                    continue
                for other_id, other_codes in active:
                    if other_id != cancer_id and _matches(other_codes, rule.with_atc):
                        self._issue(conn, patient_id, rule, cancer_id, other_id)

    def _issue(self, conn: Connection, patient_id: str, rule: InteractionRule, cancer_id: str, other_id: str) -> None:
        value = f"{rule.id}/{cancer_id}/{other_id}"
        sources = " ; ".join(rule.sources)
        self.services.repository.create(conn, "DetectedIssue", {
            "resourceType": "DetectedIssue", "identifier": [{"system": IDENTIFIER, "value": value}],
            "status": "final",
            "code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "DRG",
                                 "display": "Drug Interaction Alert"}], "text": rule.label},
            "severity": rule.severity, "patient": {"reference": f"Patient/{patient_id}"},
            "identifiedDateTime": instant(now_ms()),
            "implicated": [{"reference": f"MedicationRequest/{cancer_id}"},
                           {"reference": f"MedicationRequest/{other_id}"}],
            "detail": f"{rule.detail} (Sources : {sources})" if sources else rule.detail,
        }, if_none_exist=f"identifier={IDENTIFIER}|{value}")
