"""Micro-benchmark of structural validation: microseconds per typical Patient and per Bundle.

The create benchmark (≥ 1,500 Patients/s on 2 cores over HTTP) leaves validation a budget of about
100 µs per Patient; this measures it in isolation so regressions show before the HTTP benchmark runs.

    .venv/bin/python bench/validation_micro.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

from fhir_server.validation.packages import R4_CORE, PackageRegistry
from fhir_server.validation.structure import StructureValidator


def typical_patient(index: int = 0) -> dict[str, Any]:
    """The Patient the create benchmark posts: identifiers, name, telecom, address, birthDate, gender, meta."""
    return {
        "resourceType": "Patient",
        "id": f"bench-{index}",
        "meta": {
            "profile": ["https://oncolink.example.org/fhir/StructureDefinition/oncolink-patient"],
            "lastUpdated": "2024-05-01T10:00:00.000+02:00",
            "versionId": "1",
        },
        "identifier": [
            {
                "use": "official",
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NI"}]},
                "system": "urn:oid:1.2.250.1.213.1.4.8",
                "value": f"1{index:014d}",
            },
            {"use": "usual", "system": "urn:oid:1.2.250.1.71.4.2.7", "value": f"IPP{index}"},
        ],
        "active": True,
        "name": [{"use": "official", "family": "Dupont", "given": ["Jeanne", "Marie"], "prefix": ["Mme"]}],
        "telecom": [
            {"system": "phone", "value": "+33 6 12 34 56 78", "use": "mobile"},
            {"system": "email", "value": "jeanne.dupont@example.org", "use": "home"},
        ],
        "gender": "female",
        "birthDate": "1948-03-17",
        "address": [
            {"use": "home", "line": ["12 rue des Lilas"], "city": "Lyon", "postalCode": "69003", "country": "FR"}
        ],
    }


def transaction(size: int) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{i:012d}",
                "resource": {k: v for k, v in typical_patient(i).items() if k != "id"},
                "request": {"method": "POST", "url": "Patient"},
            }
            for i in range(size)
        ],
    }


def per_call_us(validator: StructureValidator, resource: dict[str, Any], expected: str, rounds: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            validator.validate(resource, expected)
        best = min(best, (time.perf_counter() - start) / rounds)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    cache = Path(os.environ.get("ONCOLINK_PACKAGE_CACHE", Path.home() / ".fhir" / "packages"))
    registry = PackageRegistry.from_cache(cache, [R4_CORE])
    validator = StructureValidator(registry)
    start = time.perf_counter()
    assert validator.validate(typical_patient(), "Patient") == []
    bundle = transaction(100)
    assert validator.validate(bundle, "Bundle") == []
    first = (time.perf_counter() - start) * 1e3
    patient_us = per_call_us(validator, typical_patient(), "Patient", args.rounds)
    bundle_us = per_call_us(validator, bundle, "Bundle", max(1, args.rounds // 100))
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"first use (schema compilation + 2 validations): {first:.1f} ms")
    print(f"typical Patient: {patient_us:.1f} µs per validation")
    print(f"transaction Bundle of 100 Patients: {bundle_us / 1000:.2f} ms ({bundle_us / 100:.1f} µs per entry)")


if __name__ == "__main__":
    main()
