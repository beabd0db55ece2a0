"""Small resources the tests build on; each test states what it changes."""

from __future__ import annotations

from typing import Any

INS_OID = "urn:oid:1.2.250.1.213.1.4.8"
IPP_SYSTEM = "urn:oid:1.2.250.1.71.4.2.7"


def patient(family: str = "Durand", given: str = "Élodie", ins: str = "2800675123456", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": INS_OID, "value": ins}],
        "name": [{"family": family, "given": [given]}],
        "gender": "female",
        "birthDate": "1980-06-15",
        **extra,
    }
