"""Conditional create, update, delete and patch driven by search criteria."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.fhir_data import INS_OID, patient


def test_conditional_create(client: TestClient) -> None:
    criteria = f"identifier={INS_OID}|2800675123456"
    first = client.post("/fhir/Patient", json=patient(), headers={"If-None-Exist": criteria})
    assert first.status_code == 201
    second = client.post("/fhir/Patient", json=patient(), headers={"If-None-Exist": criteria})
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["meta"]["versionId"] == "1"
    client.post("/fhir/Patient", json=patient())  # a second Patient with the same INS, made unconditionally
    several = client.post("/fhir/Patient", json=patient(), headers={"If-None-Exist": criteria})
    assert several.status_code == 412
    assert several.json()["issue"][0]["code"] == "multiple-matches"
    unknown = client.post("/fhir/Patient", json=patient(), headers={"If-None-Exist": "nosuchparam=1"})
    assert unknown.status_code == 400
    assert "nosuchparam" in unknown.json()["issue"][0]["diagnostics"]


def test_conditional_update(client: TestClient) -> None:
    url = f"/fhir/Patient?identifier={INS_OID}|1700175123456"
    created = client.put(url, json=patient(ins="1700175123456"))
    assert created.status_code == 201
    rid = created.json()["id"]
    updated = client.put(url, json={**patient(ins="1700175123456"), "gender": "male"})
    assert updated.status_code == 200
    assert updated.json()["id"] == rid
    assert updated.json()["meta"]["versionId"] == "2"
    wrong_id = client.put(url, json={**patient(ins="1700175123456"), "id": "other"})
    assert wrong_id.status_code == 400
    assert client.put("/fhir/Patient", json=patient()).status_code == 400


def test_conditional_delete(client: TestClient) -> None:
    rid = client.post("/fhir/Patient", json=patient(ins="1600175123456")).json()["id"]
    response = client.delete(f"/fhir/Patient?identifier={INS_OID}|1600175123456")
    assert response.status_code == 204
    assert client.get(f"/fhir/Patient/{rid}").status_code == 410
    assert client.delete(f"/fhir/Patient?identifier={INS_OID}|1600175123456").status_code == 204
    client.post("/fhir/Patient", json=patient(ins="1500175123456"))
    client.post("/fhir/Patient", json=patient(ins="1500175123456"))
    several = client.delete(f"/fhir/Patient?identifier={INS_OID}|1500175123456")
    assert several.status_code == 412
