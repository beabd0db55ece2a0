"""Interactions of an episode's anticancer drug with the patient's other active prescriptions."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.fhir_data import patient
from tests.telemonitoring.data import FHIR_JSON, episode, organization, post


def _request(patient_id: str, atc: str, *, status: str = "active") -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "status": status, "intent": "order",
            "subject": {"reference": f"Patient/{patient_id}"},
            "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": atc}]}}


def _issues(client: TestClient, patient_id: str) -> list[dict[str, Any]]:
    bundle = client.get(f"/fhir/DetectedIssue?patient=Patient/{patient_id}").json()
    return [e["resource"] for e in bundle.get("entry", [])]


def test_ppi_with_the_anticancer_drug_gives_one_detected_issue_even_on_replays(client: TestClient) -> None:
    patient_id, _ = episode(client, organization(client))
    erlotinib = post(client, "MedicationRequest", _request(patient_id, "L01EB02"))
    omeprazole = post(client, "MedicationRequest", _request(patient_id, "A02BC01"))
    [issue] = _issues(client, patient_id)
    assert issue["severity"] == "moderate" and issue["code"]["text"] == "Inhibiteur de la pompe à protons"
    assert [i["reference"] for i in issue["implicated"]] == [f"MedicationRequest/{erlotinib['id']}",
                                                             f"MedicationRequest/{omeprazole['id']}"]
    assert "Sources : ANSM" in issue["detail"]
    # Replaying the same prescription (an update with the same content, another write) adds nothing.
    omeprazole["note"] = [{"text": "renouvelé"}]
    assert client.put(f"/fhir/MedicationRequest/{omeprazole['id']}", json=omeprazole,
                      headers=FHIR_JSON).status_code == 200
    assert len(_issues(client, patient_id)) == 1


def test_table_rules_restrict_the_anticancer_drug_and_stopped_drugs_do_not_count(client: TestClient) -> None:
    patient_id, _ = episode(client, organization(client))
    post(client, "MedicationRequest", _request(patient_id, "L01BC06"))  # capecitabine
    post(client, "MedicationRequest", _request(patient_id, "N06AX25"))  # St John's wort: kinase inhibitors only
    post(client, "MedicationRequest", _request(patient_id, "B01AA03", status="stopped"))  # warfarin, stopped
    assert _issues(client, patient_id) == []
    post(client, "MedicationRequest", _request(patient_id, "B01AA03"))
    [issue] = _issues(client, patient_id)
    assert issue["severity"] == "high" and issue["code"]["text"] == "Antivitamine K"


def test_no_issue_outside_an_episode_and_one_when_the_episode_opens(client: TestClient) -> None:
    outside = post(client, "Patient", patient(ins="2800675123499"))
    post(client, "MedicationRequest", _request(outside["id"], "L01EB02"))
    post(client, "MedicationRequest", _request(outside["id"], "A02BC02"))
    assert _issues(client, outside["id"]) == []
    team = organization(client)
    role = "https://oncolink.example.org/fhir/CodeSystem/oncolink-care-team-role"
    plan = post(client, "CarePlan", {
        "resourceType": "CarePlan", "status": "on-hold", "intent": "plan",
        "category": [{"coding": [{"system": "https://oncolink.example.org/fhir/CodeSystem/oncolink-careplan-category",
                                  "code": "episode"}]}],
        "subject": {"reference": f"Patient/{outside['id']}"},
        "contained": [{"resourceType": "CareTeam", "id": "t", "participant": [
            {"role": [{"coding": [{"system": role, "code": "hospital-team"}]}], "member": {"reference": team}}]}],
        "careTeam": [{"reference": "#t"}]})
    assert _issues(client, outside["id"]) == []  # an episode on hold is no episode in progress
    plan["status"] = "active"
    assert client.put(f"/fhir/CarePlan/{plan['id']}", json=plan, headers=FHIR_JSON).status_code == 200
    assert len(_issues(client, outside["id"])) == 1
    # Versions that keep the episode active read nothing again and add nothing.
    plan = client.get(f"/fhir/CarePlan/{plan['id']}").json()
    plan["title"] = "Épisode"
    assert client.put(f"/fhir/CarePlan/{plan['id']}", json=plan, headers=FHIR_JSON).status_code == 200
    assert len(_issues(client, outside["id"])) == 1
