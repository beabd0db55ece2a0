"""A hospital, a pharmacy, a GP and a patient with a prescription, written through the API, and the
Parameters of `$enroll`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from tests.fhir_data import patient

FHIR_JSON = {"Content-Type": "application/fhir+json"}
BASE = "https://oncolink.example.org/fhir"
FORFAIT = f"{BASE}/CodeSystem/oncolink-forfait"
ATC = "http://www.whocc.no/atc"
ORAL = {"coding": [{"system": "http://standardterms.edqm.eu", "code": "20053000", "display": "Voie orale"}]}


def post(client: TestClient, res_type: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/fhir/{res_type}", json=body, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    return dict(response.json())


def search(client: TestClient, query: str) -> list[dict[str, Any]]:
    response = client.get(f"/fhir/{query}")
    assert response.status_code == 200, response.text
    return [e["resource"] for e in response.json().get("entry", []) if e.get("search", {}).get("mode") == "match"]


def medication(client: TestClient, atc: str = "L01BC06", name: str = "CAPECITABINE 500 mg cp") -> str:
    med = post(client, "Medication", {"resourceType": "Medication", "code": {
        "coding": [{"system": ATC, "code": atc}], "text": name}})
    return f"Medication/{med['id']}"


def prescription(client: TestClient, patient_id: str, atc: str = "L01BC06", *, route: dict[str, Any] | None = None,
                 authored: str = "2026-01-05", **extra: Any) -> dict[str, Any]:
    return post(client, "MedicationRequest", {
        "resourceType": "MedicationRequest", "status": "active", "intent": "order",
        "medicationReference": {"reference": medication(client, atc)},
        "subject": {"reference": f"Patient/{patient_id}"}, "authoredOn": authored,
        "dosageInstruction": [{"text": "1000 mg matin et soir", "route": route or ORAL}], **extra})


@dataclass
class Site:
    hospital: str
    pharmacy: str
    gp: str


def site(client: TestClient) -> Site:
    hospital = post(client, "Organization", {"resourceType": "Organization", "name": "Oncologie Lyon",
                                             "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2",
                                                             "value": "1690000001"}]})
    pharmacy = post(client, "Organization", {"resourceType": "Organization", "name": "Pharmacie des Lilas"})
    gp = post(client, "Practitioner", {"resourceType": "Practitioner", "name": [{"family": "Petit"}]})
    return Site(f"Organization/{hospital['id']}", f"Organization/{pharmacy['id']}", f"Practitioner/{gp['id']}")


def enrolled_patient(client: TestClient, **fields: Any) -> tuple[str, str]:
    """A patient, the cancer treated; answers (patient id, Condition reference)."""
    pat = post(client, "Patient", patient(**fields))
    condition = post(client, "Condition", {
        "resourceType": "Condition", "subject": {"reference": f"Patient/{pat['id']}"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "C50.9"}]}})
    return pat["id"], f"Condition/{condition['id']}"


def consent(patient_id: str, status: str = "active") -> dict[str, Any]:
    return {"resourceType": "Consent", "status": status,
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                  "code": "treatment"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": f"Patient/{patient_id}"}, "dateTime": "2026-01-05",
            "policyRule": {"text": "Consentement au parcours Onco'Link"}}


def parameters(where: Site, request_id: str, condition: str | None, consent_body: dict[str, Any] | None, *,
               telemonitoring: bool = True, start: str = "2026-01-05", **more: Any) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": "medicationRequest", "valueReference": {"reference": f"MedicationRequest/{request_id}"}},
        {"name": "hospitalTeam", "valueReference": {"reference": where.hospital}},
        {"name": "pharmacy", "valueReference": {"reference": where.pharmacy}},
        {"name": "gp", "valueReference": {"reference": where.gp}},
        {"name": "telemonitoring", "valueBoolean": telemonitoring},
        {"name": "start", "valueDate": start},
    ]
    if condition:
        params.append({"name": "condition", "valueReference": {"reference": condition}})
    if consent_body is not None:
        params.append({"name": "consent", "resource": consent_body})
    params += [{"name": name, **value} for name, value in more.items()]
    return {"resourceType": "Parameters", "parameter": params}


def enroll(client: TestClient, patient_id: str, body: dict[str, Any], expected: int = 200) -> dict[str, Any]:
    response = client.post(f"/fhir/Patient/{patient_id}/$enroll", json=body, headers=FHIR_JSON)
    assert response.status_code == expected, response.text
    return dict(response.json())


def out(answer: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p["resource"] for p in answer["parameter"] if p["name"] == name)


def ext(resource: dict[str, Any], suffix: str) -> Any:
    for e in resource.get("extension") or []:
        if e["url"].endswith(suffix):
            return next(v for k, v in e.items() if k.startswith("value"))
    return None


def new_episode(client: TestClient, atc: str = "L01BC06", *, start: str = "2026-01-05", telemonitoring: bool = True,
                **request_extra: Any) -> tuple[Site, str, dict[str, Any], dict[str, Any]]:
    """An enrolled patient: (site, patient id, episode, sequence 1)."""
    where = site(client)
    patient_id, condition = enrolled_patient(client)
    request = prescription(client, patient_id, atc, **request_extra)
    answer = enroll(client, patient_id, parameters(where, request["id"], condition, consent(patient_id),
                                                   telemonitoring=telemonitoring, start=start))
    return where, patient_id, out(answer, "episode"), out(answer, "sequence")


def episode_sequences(client: TestClient, episode_id: str) -> list[tuple[str, str, int, str, str, str]]:
    """(number, status, renewal, start, end) of each sequence of the episode, in order."""
    found = search(client, f"CarePlan?part-of=CarePlan/{episode_id}&_sort=date")
    return sorted((ext(s, "oncolink-sequence-number")["code"], s["status"], ext(s, "oncolink-sequence-renewal"),
                   s["period"]["start"], s["period"]["end"], s["id"]) for s in found)


def forfait_keys(client: TestClient, code: str = "sequence") -> list[str]:
    return sorted(c["identifier"][0]["value"].split("/", 1)[1] for c in search(client, f"ChargeItem?code={FORFAIT}|"
                                                                                         f"{code}&_count=100"))
