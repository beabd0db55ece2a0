"""Is a prescription an oral anticancer drug of the pathway, and which parcours does it give?

Pure functions over a MedicationRequest and the Medication it names (the DPI adapter writes
`medicationReference`; our profile uses `medicationCodeableConcept`), so enrolment and the DPI
reaction apply exactly the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .rules import Rules

ATC = "http://www.whocc.no/atc"
BASE = "https://oncolink.example.org/fhir/StructureDefinition"
EXT_RESERVE = f"{BASE}/oncolink-hospital-reserve"
EXT_SEQ3 = f"{BASE}/oncolink-sequence3-allowed"


@dataclass(frozen=True)
class Verdict:
    eligible: bool
    reason: str = ""  # French, for the OperationOutcome; empty when eligible
    atc: str | None = None
    parcours: str = "A"
    sequence3_allowed: bool = False


def _codings(concept: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [c for c in (concept or {}).get("coding") or [] if isinstance(c, dict)]


def _extension(resource: dict[str, Any], url: str) -> bool | None:
    for ext in resource.get("extension") or []:
        if ext.get("url") == url and isinstance(ext.get("valueBoolean"), bool):
            return bool(ext["valueBoolean"])
    return None


def medication_code(request: dict[str, Any], medication: dict[str, Any] | None) -> dict[str, Any] | None:
    """The drug's CodeableConcept: inline, or from the referenced (or contained) Medication."""
    if request.get("medicationCodeableConcept"):
        return request["medicationCodeableConcept"]
    return (medication or {}).get("code")


def judge(request: dict[str, Any], medication: dict[str, Any] | None, rules: Rules) -> Verdict:
    criteria = rules.eligibility
    atc = next((c.get("code") for c in _codings(medication_code(request, medication))
                if c.get("system") == ATC and c.get("code")), None)
    if atc is None:
        return Verdict(False, "le médicament prescrit n'a pas de code ATC : impossible de vérifier qu'il s'agit "
                              "d'un anticancéreux oral")
    if not any(atc.startswith(p) for p in criteria["oral_anticancer_atc_prefixes"]):
        return Verdict(False, f"le médicament (ATC {atc}) n'est pas un anticancéreux des classes "
                              f"{' ou '.join(criteria['oral_anticancer_atc_prefixes'])}", atc)
    oral = {(r["system"], r["code"]) for r in criteria["oral_routes"]}
    routes = [(c.get("system"), c.get("code")) for d in request.get("dosageInstruction") or []
              for c in _codings(d.get("route"))]
    if not any(route in oral for route in routes):
        return Verdict(False, "la prescription n'indique pas la voie orale", atc)
    if any(atc.startswith(p) for p in criteria["hormone_therapy_atc_prefixes"]):
        markers = {(m["system"], m["code"]) for m in criteria["adjuvant_markers"]}
        concepts = [*(request.get("reasonCode") or []), request.get("courseOfTherapyType")]
        if any((c.get("system"), c.get("code")) in markers for concept in concepts for c in _codings(concept)):
            return Verdict(False, "l'hormonothérapie adjuvante est exclue du parcours Onco'Link", atc)
    drug = rules.drug(atc)
    reserve = _extension(request, EXT_RESERVE)
    seq3 = _extension(request, EXT_SEQ3)
    return Verdict(True, "", atc, "B" if (drug.hospital_reserve if reserve is None else reserve) else "A",
                   drug.sequence3_allowed if seq3 is None else seq3)
