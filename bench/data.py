"""Seeded synthetic French patients for benchmarks."""

from __future__ import annotations

import random
from typing import Any

FAMILIES = ["Durand", "Dupont", "Lefèvre", "Moreau", "Girard", "Bénard", "Rousseau", "Fontaine", "Chevalier",
            "Lemaître", "Mercier", "Gauthier", "Dubois", "Lambert", "Bonnet", "François", "Martínez", "Hébert"]
GIVENS = ["Élodie", "Jérôme", "Hélène", "François", "Amélie", "Grégoire", "Noémie", "Loïc", "Inès", "Anaïs",
          "Benoît", "Chloé", "Raphaël", "Zoé", "Théo", "Léa"]
INS_OID = "urn:oid:1.2.250.1.213.1.4.8"
IPP_SYSTEM = "urn:oid:1.2.250.1.71.4.2.7.999"


def patient(rng: random.Random, n: int) -> dict[str, Any]:
    sex = rng.choice(["male", "female"])
    year = rng.randint(1930, 2005)
    ins = f"{1 if sex == 'male' else 2}{year % 100:02d}{rng.randint(1, 12):02d}{rng.randint(10000000, 99999999)}"
    return {
        "resourceType": "Patient",
        "identifier": [
            {"use": "official", "system": INS_OID, "value": ins},
            {"use": "usual", "system": IPP_SYSTEM, "value": f"IPP{n:08d}"},
        ],
        "active": True,
        "name": [{"use": "official", "family": rng.choice(FAMILIES), "given": [rng.choice(GIVENS)]}],
        "telecom": [{"system": "phone", "value": f"06{rng.randint(10000000, 99999999)}", "use": "mobile"}],
        "gender": sex,
        "birthDate": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "address": [{"line": [f"{rng.randint(1, 200)} rue de la République"], "city": "Lyon", "postalCode": "69003",
                     "country": "FR"}],
    }


def transaction(patients: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": p, "request": {"method": "POST", "url": "Patient"}} for p in patients],
    }
