"""Real resources to test extraction on: the ANS ePrescription examples (85 Bundles), the JSON
resources of the FHIR test cases, and a few hand-made ones covering choice types, components,
periods, timings and references of every shape."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

SHARED = Path(__file__).resolve().parents[3] / "shared"


def _unbundle(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield resource
    if resource.get("resourceType") == "Bundle":
        for entry in resource.get("entry") or []:
            if isinstance(entry.get("resource"), dict):
                yield from _unbundle(entry["resource"])
    for contained in resource.get("contained") or []:
        if isinstance(contained, dict):
            yield contained


HAND_MADE: list[dict[str, Any]] = [
    {
        "resourceType": "Observation", "id": "bp", "status": "final",
        "meta": {"tag": [{"system": "http://t", "code": "x"}], "security": [{"code": "N"}], "profile": ["http://p"]},
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure"}],
                 "text": "BP"},
        "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "http://other/fhir/Encounter/e1"},
        "performer": [{"reference": "Practitioner/pr1"}, {"reference": "#c1"}, {"identifier": {"value": "v"}}],
        "effectivePeriod": {"start": "2021-03-01T10:00:00+01:00"},
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
             "valueQuantity": {"value": 107, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
             "valueCodeableConcept": {"coding": [{"code": "high"}]}},
        ],
        "valueRange": {"low": {"value": 1}, "high": {"value": 2.5, "unit": "mg"}},
    },
    {
        "resourceType": "Observation", "id": "o2", "status": "final", "code": {"text": "free text"},
        "valueQuantity": {"value": 5.4, "code": "mg"}, "effectiveTiming": {"event": ["2020-01-01", "2020-03"]},
    },
    {
        "resourceType": "Condition", "id": "c1", "onsetAge": {"value": 3, "unit": "a"},
        "abatementString": "x", "recordedDate": "2020-02-02", "subject": {"reference": "Group/g"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1"}]},
    },
    {
        "resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": "http://atc", "code": "L01XE"}]},
        "subject": {"reference": "Patient/p1"}, "authoredOn": "2024-05-06T07:08:09Z",
        "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": "2024-05-01", "end": "2024-06"}}}}],
        "groupIdentifier": {"system": "urn:g", "value": "1"},
    },
    {
        "resourceType": "CarePlan", "id": "cp", "status": "active", "intent": "plan",
        "subject": {"reference": "Patient/p1"}, "careTeam": [{"reference": "CareTeam/t1"}],
        "period": {"end": "2025"},
        "activity": [{"reference": {"reference": "MedicationRequest/m1"}},
                     {"detail": {"code": {"text": "x"}, "scheduledString": "weekly"}}],
        "instantiatesCanonical": ["http://onco/PlanDefinition/pathway|1.0"],
    },
    {
        "resourceType": "Patient", "id": "p1", "active": False, "deceasedDateTime": "2020-01-01",
        "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "1", "type": {"text": "INS"}}],
        "name": [{"family": "Dupré", "given": ["Hélène", None], "_given": [None, {"extension": []}]}],
        "_birthDate": {"extension": [{"url": "http://x", "valueString": "y"}]},
        "telecom": [{"system": "email", "value": "a@b.fr"}, {"system": "phone", "value": "01"}],
        "address": [{"line": ["1 rue"], "city": "Lyon", "postalCode": "69000", "country": "FR", "use": "home"}],
        "link": [{"other": {"reference": "RelatedPerson/r"}, "type": "seealso"}],
    },
    {
        "resourceType": "Questionnaire", "id": "q", "url": "http://q", "status": "active",
        "item": [{"linkId": "1", "code": [{"code": "a"}], "item": [{"linkId": "1.1", "code": [{"code": "b"}]}]}],
        "useContext": [{"code": {"code": "age"}, "valueRange": {"low": {"value": 18}}},
                       {"code": {"code": "focus"}, "valueCodeableConcept": {"coding": [{"code": "f"}]}}],
    },
    {
        "resourceType": "Claim", "id": "cl", "status": "active", "use": "claim", "created": "2020",
        "patient": {"reference": "Patient/p1"}, "provider": {"reference": "Organization/o"},
        "priority": {"coding": [{"code": "normal"}]}, "total": {"value": 12.5, "currency": "EUR"},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/c"}}],
        "item": [{"sequence": 1, "udi": [{"reference": "Device/d"}], "detail": [{"sequence": 1,
                  "udi": [{"reference": "Device/d2"}]}]}],
    },
    {
        "resourceType": "RiskAssessment", "id": "r", "status": "final", "subject": {"reference": "Patient/p1"},
        "prediction": [{"probabilityDecimal": 0.8}, {"probabilityRange": {"low": {"value": 0.1}}}],
    },
]


def resources() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    archive = SHARED / "fhir" / "packages" / "ans.fhir.fr.eprescription-1.1.0-ballot.examples.json.zip"
    with zipfile.ZipFile(archive) as zipped:
        for name in sorted(zipped.namelist()):
            if name.endswith(".json"):
                found.extend(_unbundle(orjson.loads(zipped.read(name))))
    for path in sorted((SHARED / "fhir" / "test-cases" / "r4").glob("*.json")):
        found.extend(_unbundle(orjson.loads(path.read_bytes())))
    found.extend(HAND_MADE)
    return [r for r in found if isinstance(r, dict) and r.get("resourceType")]
