"""The CapabilityStatement states what the server does, and only that."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_capability_statement(client: TestClient) -> None:
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    statement = response.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["kind"] == "instance"
    assert statement["format"] == ["application/fhir+json", "json"]
    assert statement["patchFormat"] == ["application/json-patch+json", "application/fhir+json"]
    rest = statement["rest"][0]
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch", "history-system", "search-system"}
    resources = {r["type"]: r for r in rest["resource"]}
    assert len(resources) == 146
    patient = resources["Patient"]
    assert {i["code"] for i in patient["interaction"]} == {
        "read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"}
    assert patient["versioning"] == "versioned-update"
    assert patient["conditionalDelete"] == "single"
    assert patient["updateCreate"] is True
    params = {p["name"]: p for p in patient["searchParam"]}
    assert params["identifier"]["type"] == "token"
    assert params["birthdate"]["definition"] == "http://hl7.org/fhir/SearchParameter/individual-birthdate"


def test_metadata_needs_no_body_and_refuses_xml(client: TestClient) -> None:
    assert client.get("/fhir/metadata", headers={"Accept": "application/fhir+xml"}).status_code == 406
