"""Test data the run creates: small valid resources of common types, each carrying the run's tag.

Only types with a builder here get their interactions exercised; they cover every search parameter
type (string, token, date, reference, number, quantity, uri) on parameters every R4 server defines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TAG_SYSTEM = "https://oncolink.example.org/fhir/CodeSystem/conformance-run"
UCUM = "http://unitsofmeasure.org"

Resource = dict[str, Any]


@dataclass(frozen=True)
class RunMarks:
    """What makes this run's data its own: the tag code and a unique word used in names and identifiers."""

    code: str

    @property
    def tag(self) -> dict[str, str]:
        return {"system": TAG_SYSTEM, "code": self.code}

    @property
    def tag_query(self) -> str:
        return f"{TAG_SYSTEM}|{self.code}"

    @property
    def identifier_system(self) -> str:
        return f"https://oncolink.example.org/conformance/{self.code}"

    @property
    def word(self) -> str:
        """Letters only, so a string search on it means the same on every server."""
        return "Zq" + "".join(chr(ord("a") + int(c, 16) % 26) for c in self.code[:10])


def _tagged(marks: RunMarks, resource: Resource) -> Resource:
    return {**resource, "meta": {"tag": [marks.tag]}}


def patient(marks: RunMarks, label: str, *, gender: str = "female", birth_date: str = "1950-03-04") -> Resource:
    return _tagged(marks, {
        "resourceType": "Patient",
        "identifier": [{"system": marks.identifier_system, "value": label}],
        "name": [{"family": f"{marks.word}{label}", "given": ["Conformance"]}],
        "gender": gender,
        "birthDate": birth_date,
    })


def observation(marks: RunMarks, subject: str | None, value: float = 5.4) -> Resource:
    resource: Resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
        "valueQuantity": {"value": value, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"},
    }
    if subject:
        resource["subject"] = {"reference": subject}
    return _tagged(marks, resource)


def risk_assessment(marks: RunMarks, subject: str, probability: float) -> Resource:
    return _tagged(marks, {"resourceType": "RiskAssessment", "status": "final", "subject": {"reference": subject},
                           "prediction": [{"probabilityDecimal": probability}]})


def questionnaire(marks: RunMarks, label: str) -> Resource:
    return _tagged(marks, {"resourceType": "Questionnaire", "status": "draft",
                           "url": f"https://conformance.example.org/{marks.code}/{label}",
                           "item": [{"linkId": "1", "text": "Conformance", "type": "string"}]})


def practitioner(marks: RunMarks) -> Resource:
    return _tagged(marks, {"resourceType": "Practitioner", "name": [{"family": marks.word, "given": ["Test"]}]})


def organization(marks: RunMarks) -> Resource:
    return _tagged(marks, {"resourceType": "Organization", "name": f"{marks.word} conformance"})


# One standalone resource per type for the interaction lifecycle (references are left out so any can be deleted).
LIFECYCLE: dict[str, Callable[[RunMarks], Resource]] = {
    "Patient": lambda m: patient(m, "life"),
    "Practitioner": practitioner,
    "Organization": organization,
    "Observation": lambda m: observation(m, None),
    "Questionnaire": lambda m: questionnaire(m, "life"),
}
