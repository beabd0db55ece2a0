"""Seeded data set of the search benchmark: the Onco'Link file active at national scale.

`scale=1.0` is the issue's data set: 100,000 Patients (French names with accents, birth dates, INS and
IPP identifiers), 300,000 MedicationRequests, 100,000 episode CarePlans (each with its contained care
team: hospital, community pharmacy, GP; activities referencing the patient's prescriptions) and 200,000
Observations, plus the Organizations, Practitioners and Medications they reference. Everything is
derived from one seed, so two runs produce the same resources, ids and values.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

INS_OID = "urn:oid:1.2.250.1.213.1.4.8"
IPP_SYSTEM = "urn:oid:1.2.250.1.71.4.2.7.999"
FINESS = "urn:oid:1.2.250.1.71.4.2.2"
RPPS = "urn:oid:1.2.250.1.71.4.2.1"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ATC = "http://www.whocc.no/atc"
EPOCH_UPDATED = "2026-01-01T00:00:00.000Z"

FAMILIES = [
    "Durand", "Dupont", "Lefèvre", "Moreau", "Girard", "Bénard", "Rousseau", "Fontaine", "Chevalier", "Lemaître",
    "Mercier", "Gauthier", "Dubois", "Lambert", "Bonnet", "François", "Hébert", "Martin", "Bernard", "Thomas",
    "Petit", "Robert", "Richard", "Durieux", "Leroy", "Roux", "Fournier", "Morel", "Guérin", "Boyer", "Garnier",
    "Chevrier", "Faure", "André", "Mercier", "Blanc", "Guillot", "Müller", "Clément", "Gaillard", "Barbier",
    "Arnaud", "Rolland", "Aubert", "Lemoine", "Renaud", "Dumas", "Brunet", "Schmitt", "Colin", "Pierre",
    "Noël", "Perrin", "Lucas", "Vidal", "Caron", "Picard", "Roger", "Duval", "Leclerc",
]
GIVENS = [
    "Élodie", "Jérôme", "Hélène", "François", "Amélie", "Grégoire", "Noémie", "Loïc", "Inès", "Anaïs", "Benoît",
    "Chloé", "Raphaël", "Zoé", "Théo", "Léa", "Cédric", "Maëlle", "Josée", "Agnès", "Gaëtan", "Renée", "Michel",
    "Françoise", "Jean", "Marie", "Pierre", "Nathalie", "Stéphane", "Sébastien",
]
CITIES = [("Lyon", "69003"), ("Saint-Étienne", "42000"), ("Grenoble", "38000"), ("Besançon", "25000"),
          ("Orléans", "45000"), ("Nîmes", "30000"), ("Béziers", "34500"), ("Évry", "91000")]
DRUGS = [f"L01{group}{n:02d}" for group in ("EA", "EB", "EC", "EX", "XX", "BC") for n in range(1, 11)]


@dataclass(frozen=True)
class Scale:
    patients: int
    pharmacies: int
    hospitals: int
    practitioners: int

    @staticmethod
    def of(factor: float) -> Scale:
        return Scale(patients=max(10, int(100_000 * factor)), pharmacies=max(2, int(2_000 * factor)),
                     hospitals=max(2, int(40 * factor)), practitioners=max(2, int(1_000 * factor)))


def ins(n: int) -> str:
    return f"{1 + n % 2}{(30 + n % 70):02d}{1 + n % 12:02d}{n:08d}"


def patient_id(n: int) -> str:
    return f"pat{n}"


def pharmacy_id(n: int) -> str:
    return f"pharma{n}"


def _patient(rng: random.Random, n: int) -> dict[str, Any]:
    city, postcode = rng.choice(CITIES)
    year = rng.randint(1930, 2005)
    return {
        "resourceType": "Patient", "id": patient_id(n), "active": True,
        "identifier": [{"use": "official", "system": INS_OID, "value": ins(n)},
                       {"use": "usual", "system": IPP_SYSTEM, "value": f"IPP{n:08d}"}],
        "name": [{"use": "official", "family": rng.choice(FAMILIES), "given": [rng.choice(GIVENS)]}],
        "telecom": [{"system": "phone", "value": f"06{rng.randint(10000000, 99999999)}", "use": "mobile"}],
        "gender": "male" if n % 2 == 0 else "female",
        "birthDate": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "address": [{"line": [f"{rng.randint(1, 200)} rue de la République"], "city": city,
                     "postalCode": postcode, "country": "FR"}],
    }


def _medication_request(rng: random.Random, n: int, k: int, scale: Scale) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest", "id": f"mr{n}-{k}",
        "status": "active" if k == 0 or rng.random() < 0.2 else rng.choice(["completed", "stopped"]),
        "intent": "order",
        "medicationReference": {"reference": f"Medication/{rng.choice(DRUGS)}"},
        "subject": {"reference": f"Patient/{patient_id(n)}"},
        "requester": {"reference": f"Practitioner/prac{rng.randrange(scale.practitioners)}"},
        "authoredOn": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "dosageInstruction": [{"text": "1 comprimé matin et soir", "route": {"coding": [
            {"system": "http://standardterms.edqm.eu", "code": "20053000", "display": "Voie orale"}]}}],
    }


def _care_plan(rng: random.Random, n: int, scale: Scale) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan", "id": f"cp{n}",
        "contained": [{
            "resourceType": "CareTeam", "id": "team", "status": "active",
            "participant": [
                {"role": [{"text": "équipe hospitalière"}],
                 "member": {"reference": f"Organization/hosp{rng.randrange(scale.hospitals)}"}},
                {"role": [{"text": "pharmacie d'officine"}],
                 "member": {"reference": f"Organization/{pharmacy_id(n % scale.pharmacies)}"}},
                {"role": [{"text": "médecin traitant"}],
                 "member": {"reference": f"Practitioner/prac{rng.randrange(scale.practitioners)}"}},
            ],
        }],
        "status": "active" if rng.random() < 0.7 else "completed", "intent": "plan",
        "category": [{"coding": [{"system": "https://oncolink.example.org/fhir/CodeSystem/careplan-category",
                                  "code": "episode"}]}],
        "subject": {"reference": f"Patient/{patient_id(n)}"},
        "period": {"start": f"2025-{rng.randint(1, 12):02d}-01"},
        "careTeam": [{"reference": "#team"}],
        "activity": [{"reference": {"reference": f"MedicationRequest/mr{n}-{k}"}} for k in range(3)],
    }


def _observation(rng: random.Random, n: int, k: int) -> dict[str, Any]:
    weight = k == 0
    return {
        "resourceType": "Observation", "id": f"obs{n}-{k}", "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "29463-7" if weight else "8310-5",
                             "display": "Body weight" if weight else "Body temperature"}]},
        "subject": {"reference": f"Patient/{patient_id(n)}"},
        "effectiveDateTime": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z",
        "valueQuantity": ({"value": round(rng.uniform(40, 110), 1), "unit": "kg", "system": UCUM, "code": "kg"}
                          if weight else
                          {"value": round(rng.uniform(36, 40), 1), "unit": "°C", "system": UCUM, "code": "Cel"}),
    }


def references(scale: Scale) -> Iterator[dict[str, Any]]:
    for n in range(scale.pharmacies):
        yield {"resourceType": "Organization", "id": pharmacy_id(n), "name": f"Pharmacie {n}",
               "identifier": [{"system": FINESS, "value": f"69{n:07d}"}]}
    for n in range(scale.hospitals):
        yield {"resourceType": "Organization", "id": f"hosp{n}", "name": f"Centre hospitalier {n}"}
    for n in range(scale.practitioners):
        yield {"resourceType": "Practitioner", "id": f"prac{n}",
               "identifier": [{"system": RPPS, "value": f"1{n:010d}"}],
               "name": [{"family": FAMILIES[n % len(FAMILIES)], "given": [GIVENS[n % len(GIVENS)]]}]}
    for code in DRUGS:
        yield {"resourceType": "Medication", "id": code, "code": {"coding": [{"system": ATC, "code": code}]}}


def resources(factor: float = 1.0, seed: int = 20261123) -> Iterator[dict[str, Any]]:
    """Every resource of the data set, references first, then patient by patient."""
    scale = Scale.of(factor)
    yield from references(scale)
    rng = random.Random(seed)
    for n in range(scale.patients):
        yield _patient(rng, n)
        for k in range(3):
            yield _medication_request(rng, n, k, scale)
        yield _care_plan(rng, n, scale)
        for k in range(2):
            yield _observation(rng, n, k)
