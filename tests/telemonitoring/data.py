"""Episodes in the IG's shape (CarePlan-episode-jeanne-martin) and weekly responses, built through the API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.fhir_data import patient

FHIR_JSON = {"Content-Type": "application/fhir+json"}
BASE = "https://oncolink.example.org/fhir"
QUESTIONNAIRE = f"{BASE}/Questionnaire/oncolink-pro-hebdo"
GRADED = ("diarrhee", "nausees-vomissements", "mucite", "main-pied", "eruption", "fatigue", "fievre", "douleur",
          "dyspnee", "saignement")


def post(client: TestClient, res_type: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/fhir/{res_type}", json=body, headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    return dict(response.json())


def organization(client: TestClient, finess: str = "690000001") -> str:
    org = post(client, "Organization", {"resourceType": "Organization", "name": "Oncologie Lyon",
                                        "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2", "value": finess}]})
    return f"Organization/{org['id']}"


def episode(client: TestClient, team: str, **patient_fields: Any) -> tuple[str, str]:
    """A patient and an active episode followed by `team`; answers (patient id, episode id)."""
    pat = post(client, "Patient", patient(**patient_fields))
    role = f"{BASE}/CodeSystem/oncolink-care-team-role"
    plan = post(client, "CarePlan", {
        "resourceType": "CarePlan", "status": "active", "intent": "plan",
        "category": [{"coding": [{"system": f"{BASE}/CodeSystem/oncolink-careplan-category", "code": "episode"}]}],
        "subject": {"reference": f"Patient/{pat['id']}"}, "period": {"start": "2025-11-03"},
        "contained": [{"resourceType": "CareTeam", "id": "team", "status": "active", "participant": [
            {"role": [{"coding": [{"system": role, "code": "hospital-team"}]}], "member": {"reference": team}}]}],
        "careTeam": [{"reference": "#team"}]})
    return pat["id"], plan["id"]


def response(patient_id: str, grades: dict[str, int] | None = None, *, temperature: float | None = None,
             missed: int = 0, authored: str = "2025-11-17T09:30:00+01:00") -> dict[str, Any]:
    grades = grades or {}
    items: list[dict[str, Any]] = [
        {"linkId": link, "answer": [{"valueCoding": {"system": f"{BASE}/CodeSystem/oncolink-grade",
                                                     "code": str(grades.get(link, 0))}}]} for link in GRADED]
    if temperature is not None:
        items.append({"linkId": "temperature", "answer": [{"valueDecimal": temperature}]})
    items.append({"linkId": "oublis", "answer": [{"valueCoding": {
        "system": f"{BASE}/CodeSystem/oncolink-missed-doses", "code": str(missed)}}]})
    return {"resourceType": "QuestionnaireResponse", "questionnaire": QUESTIONNAIRE, "status": "completed",
            "subject": {"reference": f"Patient/{patient_id}"}, "authored": authored, "item": items}
