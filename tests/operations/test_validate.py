"""`$validate` over HTTP, profile enforcement on writes, and the package download, on SQLite and
PostgreSQL."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.validation.support import example

JSON = {"Content-Type": "application/fhir+json"}
SD = "https://oncolink.example.org/fhir/StructureDefinition/"


def issues(response: Any) -> list[tuple[str, str, list[str] | None]]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return [(i["severity"], i["code"], i.get("expression")) for i in body["issue"] if i["severity"] != "information"]


def test_validate_type_level(ig_client: TestClient, examples: Any) -> None:
    plan = example(examples, "episode-jeanne-martin")
    response = ig_client.post("/fhir/CarePlan/$validate", json=plan, headers=JSON)
    assert response.status_code == 200
    # Only best-practice notes: no narrative on the plan and on its contained care team.
    assert [(i["severity"], i["code"], i["expression"]) for i in response.json()["issue"]] == [
        ("information", "invariant", ["CarePlan"]), ("information", "invariant", ["CarePlan.contained[0]"])
    ]
    plan["text"] = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Épisode</div>'}
    plan["contained"][0]["text"] = plan["text"]
    response = ig_client.post("/fhir/CarePlan/$validate", json=plan, headers=JSON)
    assert response.json()["issue"] == [
        {"severity": "information", "code": "informational", "diagnostics": "Validation found no issues"}
    ]
    del plan["subject"]
    plan["intent"] = "order"
    response = ig_client.post("/fhir/CarePlan/$validate", json=plan, headers=JSON)
    assert response.status_code == 200
    assert issues(response) == [("error", "required", ["CarePlan.subject"]), ("error", "value", ["CarePlan.intent"])]


def test_validate_with_parameters_profile_and_mode(ig_client: TestClient, examples: Any) -> None:
    patient = example(examples, "patient-jeanne-martin")
    del patient["meta"]
    del patient["birthDate"]
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": patient},
        {"name": "profile", "valueCanonical": SD + "oncolink-patient"},
        {"name": "mode", "valueCode": "profile"},
    ]}
    response = ig_client.post("/fhir/Patient/$validate", json=body, headers=JSON)
    assert issues(response) == [("error", "required", ["Patient.birthDate"]),
                                ("warning", "code-invalid", ["Patient.identifier[1].type"])]
    response = ig_client.post("/fhir/Patient/$validate?profile=https://example.org/unknown", json=patient,
                              headers=JSON)
    assert ("error", "not-found", None) in issues(response)


def test_validate_modes(ig_client: TestClient, examples: Any) -> None:
    condition = example(examples, "condition-cancer-sein")
    assert issues(ig_client.post("/fhir/Condition/$validate?mode=update", json=condition, headers=JSON)) == []
    no_id = {k: v for k, v in condition.items() if k != "id"}
    assert issues(ig_client.post("/fhir/Condition/$validate?mode=update", json=no_id, headers=JSON)) == [
        ("error", "required", ["Condition.id"])
    ]
    assert issues(ig_client.post("/fhir/Condition/other/$validate?mode=update", json=condition, headers=JSON)) == [
        ("error", "invalid", ["Condition.id"])
    ]
    response = ig_client.post("/fhir/Condition/$validate?mode=erase", json=condition, headers=JSON)
    assert response.status_code == 400
    assert ig_client.post("/fhir/Condition/nope/$validate?mode=delete").status_code == 404


def test_validate_stored_instance(ig_client: TestClient, examples: Any) -> None:
    condition = example(examples, "condition-cancer-sein")
    assert ig_client.put(f"/fhir/Condition/{condition['id']}", json=condition, headers=JSON).status_code == 201
    response = ig_client.get(f"/fhir/Condition/{condition['id']}/$validate?profile={SD}oncolink-patient")
    assert issues(response) == [("error", "invalid", ["Condition"])]
    response = ig_client.post(f"/fhir/Condition/{condition['id']}/$validate")
    assert issues(response) == []
    assert ig_client.post(f"/fhir/Condition/{condition['id']}/$validate?mode=delete").status_code == 200
    assert ig_client.get("/fhir/Condition/unknown/$validate").status_code == 404


def test_writes_reject_what_breaks_a_claimed_profile(ig_client: TestClient, examples: Any) -> None:
    plan = example(examples, "episode-jeanne-martin")
    del plan["subject"]
    response = ig_client.post("/fhir/CarePlan", json=plan, headers=JSON)
    assert response.status_code == 422
    assert issues(response) == [("error", "required", ["CarePlan.subject"])]
    response = ig_client.put("/fhir/CarePlan/episode-jeanne-martin", json=plan, headers=JSON)
    assert response.status_code == 422
    plan = example(examples, "episode-jeanne-martin")
    assert ig_client.put("/fhir/CarePlan/episode-jeanne-martin", json=plan, headers=JSON).status_code == 201
    # Without the claim the same content is only checked against R4.
    del plan["meta"]
    del plan["subject"]
    assert ig_client.post("/fhir/CarePlan", json={**plan, "subject": {"reference": "Patient/p"}},
                          headers=JSON).status_code == 201
    unknown = example(examples, "condition-cancer-sein")
    unknown["meta"] = {"profile": ["https://example.org/fhir/StructureDefinition/unknown"]}
    assert ig_client.post("/fhir/Condition", json=unknown, headers=JSON).status_code == 201


def test_transaction_entry_breaking_its_profile(ig_client: TestClient, examples: Any) -> None:
    request = example(examples, "mr-capecitabine")
    request["dosageInstruction"][0]["route"] = {"text": "IV"}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:5b0c2a44-1f0e-4c86-9d87-6f3b1c2e9a01", "resource": request,
         "request": {"method": "POST", "url": "MedicationRequest"}},
    ]}
    response = ig_client.post("/fhir", json=bundle, headers=JSON)
    assert response.status_code in (400, 422)
    text = json.dumps(response.json())
    assert "MedicationRequest.dosageInstruction[0].route" in text


def test_package_download(ig_client: TestClient) -> None:
    response = ig_client.get("/ig/package.tgz")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/gzip"
    assert 'filename="onco-link.fhir-0.1.0.tgz"' in response.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
        manifest = json.load(tar.extractfile("package/package.json"))  # type: ignore[arg-type]
    assert manifest["name"] == "onco-link.fhir"
    assert gzip.decompress(response.content)  # a plain gzip stream
    again = ig_client.get("/ig/package.tgz", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    assert ig_client.get("/ig/onco-link.fhir-0.1.0.tgz").content == response.content
    assert ig_client.get("/ig/onco-link.fhir-9.9.9.tgz").status_code == 404
    assert ig_client.get("/ig/package.json").json()["version"] == "0.1.0"


@pytest.mark.parametrize("share", ["community-pharmacy"])
def test_pharmacy_pull(ig_client: TestClient, examples: Any, share: str) -> None:
    """A community pharmacy finds the active episodes it is part of, with their prescriptions."""
    for name in ("mr-capecitabine", "episode-jeanne-martin"):
        resource = example(examples, name)
        url = f"/fhir/{resource['resourceType']}/{resource['id']}"
        assert ig_client.put(url, json=resource, headers=JSON).status_code == 201, name
    response = ig_client.get("/fhir/CarePlan?status=active&care-team=Organization/org-pharmacie-lilas"
                             "&_include=CarePlan:activity-reference")
    assert response.status_code == 200, response.text
    found = sorted((e["resource"]["resourceType"], e["resource"]["id"]) for e in response.json().get("entry", []))
    assert found == [("CarePlan", "episode-jeanne-martin"), ("MedicationRequest", "mr-capecitabine")]
    other = ig_client.get("/fhir/CarePlan?care-team=Organization/another-pharmacy")
    assert other.json().get("entry", []) == []
