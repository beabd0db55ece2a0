"""Eligibility of a prescription: both medication forms, each exclusion, parcours from hospital reserve."""

from __future__ import annotations

import json
from pathlib import Path

from fhir_server.pathway.eligibility import judge
from fhir_server.pathway.rules import load

ROOT = Path(__file__).resolve().parents[2]
RULES = load(ROOT / "mappings" / "pathway")
EXAMPLE = json.loads((ROOT / "profiles/fsh-generated/resources/MedicationRequest-mr-capecitabine.json").read_text())
ORAL = {"coding": [{"system": "http://standardterms.edqm.eu", "code": "20053000"}]}


def dpi_request(atc: str, route: dict | None = ORAL, **extra: object) -> tuple[dict, dict]:
    request = {"resourceType": "MedicationRequest", "medicationReference": {"reference": "Medication/m1"},
               "dosageInstruction": [{"route": route}] if route else [], **extra}
    medication = {"resourceType": "Medication", "code": {"coding": [
        {"system": "urn:oid:1.2.250.1.213.2.3.2", "code": "3400936409867"},
        {"system": "http://www.whocc.no/atc", "code": atc}]}}
    return request, medication


def test_profile_example_is_parcours_a_with_sequence_3() -> None:
    verdict = judge(EXAMPLE, None, RULES)
    assert (verdict.eligible, verdict.atc, verdict.parcours, verdict.sequence3_allowed) == \
        (True, "L01BC06", "A", True)


def test_dpi_medication_reference_and_hospital_reserve_from_the_drug_table() -> None:
    verdict = judge(*dpi_request("L01XX52"), RULES)
    assert (verdict.eligible, verdict.parcours, verdict.sequence3_allowed) == (True, "B", False)


def test_request_extension_wins_over_the_drug_table() -> None:
    request, medication = dpi_request("L01XX52", extension=[
        {"url": "https://oncolink.example.org/fhir/StructureDefinition/oncolink-hospital-reserve",
         "valueBoolean": False}])
    assert judge(request, medication, RULES).parcours == "A"


def test_refusals_say_why() -> None:
    assert judge(*dpi_request("A02BC01"), RULES).reason == \
        "le médicament (ATC A02BC01) n'est pas un anticancéreux des classes L01 ou L02"
    assert judge(*dpi_request("L01BC06", route=None), RULES).reason == "la prescription n'indique pas la voie orale"
    adjuvant = {"coding": [{"system": "http://snomed.info/sct", "code": "373846009"}]}
    assert judge(*dpi_request("L02BG04", reasonCode=[adjuvant]), RULES).reason == \
        "l'hormonothérapie adjuvante est exclue du parcours Onco'Link"
    assert judge(*dpi_request("L02BG04"), RULES).eligible  # metastatic hormone therapy stays eligible
    no_atc = {"resourceType": "MedicationRequest", "medicationCodeableConcept": {"text": "capécitabine"}}
    assert not judge(no_atc, None, RULES).eligible
