"""PATCH over HTTP: JSON Patch and FHIRPath Patch, conditional, in transactions, with If-Match."""

from __future__ import annotations

import base64

import orjson
from fastapi.testclient import TestClient

from tests.fhir_data import INS_OID, patient

JSON_PATCH = {"Content-Type": "application/json-patch+json"}
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def fhirpath_replace(path: str, value: str) -> dict:
    return {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": path},
        {"name": "value", "valueCode": value}]}]}


def test_json_patch_makes_a_new_version(client: TestClient) -> None:
    rid = client.post("/fhir/Patient", json=patient()).json()["id"]
    ops = [{"op": "replace", "path": "/gender", "value": "male"}, {"op": "add", "path": "/active", "value": True}]
    response = client.patch(f"/fhir/Patient/{rid}", content=orjson.dumps(ops), headers=JSON_PATCH)
    assert response.status_code == 200
    body = response.json()
    assert (body["gender"], body["active"], body["meta"]["versionId"]) == ("male", True, "2")
    assert response.headers["ETag"] == 'W/"2"'


def test_fhirpath_patch(client: TestClient) -> None:
    rid = client.post("/fhir/Patient", json=patient()).json()["id"]
    response = client.patch(f"/fhir/Patient/{rid}", json=fhirpath_replace("Patient.gender", "other"), headers=FHIR_JSON)
    assert response.status_code == 200
    assert response.json()["gender"] == "other"


def test_patch_results_are_validated_and_failures_change_nothing(client: TestClient) -> None:
    rid = client.post("/fhir/Patient", json=patient()).json()["id"]
    invalid = client.patch(f"/fhir/Patient/{rid}", json=fhirpath_replace("Patient.gender", "robot"), headers=FHIR_JSON)
    assert invalid.status_code == 422
    assert invalid.json()["issue"][0]["expression"] == ["Patient.gender"]
    failing_test = [{"op": "test", "path": "/gender", "value": "male"}]
    refused = client.patch(f"/fhir/Patient/{rid}", content=orjson.dumps(failing_test), headers=JSON_PATCH)
    assert refused.status_code == 422
    id_change = [{"op": "replace", "path": "/id", "value": "other"}]
    assert client.patch(f"/fhir/Patient/{rid}", content=orjson.dumps(id_change), headers=JSON_PATCH).status_code == 422
    malformed = client.patch(f"/fhir/Patient/{rid}", content=b'[{"op": "jump"}]', headers=JSON_PATCH)
    assert malformed.status_code == 400
    wrong_media = client.patch(f"/fhir/Patient/{rid}", content=b"[]", headers={"Content-Type": "text/plain"})
    assert wrong_media.status_code == 415
    assert client.get(f"/fhir/Patient/{rid}").json()["meta"]["versionId"] == "1"


def test_patch_that_changes_nothing_makes_no_version(client: TestClient) -> None:
    rid = client.post("/fhir/Patient", json=patient()).json()["id"]
    same = orjson.dumps([{"op": "replace", "path": "/gender", "value": "female"}])
    response = client.patch(f"/fhir/Patient/{rid}", content=same, headers=JSON_PATCH)
    assert response.status_code == 200
    assert response.headers["ETag"] == 'W/"1"'


def test_patch_if_match_and_missing(client: TestClient) -> None:
    rid = client.post("/fhir/Patient", json=patient()).json()["id"]
    ops = orjson.dumps([{"op": "replace", "path": "/gender", "value": "male"}])
    assert client.patch(f"/fhir/Patient/{rid}", content=ops, headers={**JSON_PATCH, "If-Match": 'W/"9"'}
                        ).status_code == 412
    assert client.patch(f"/fhir/Patient/{rid}", content=ops, headers={**JSON_PATCH, "If-Match": 'W/"1"'}
                        ).status_code == 200
    assert client.patch("/fhir/Patient/missing", content=ops, headers=JSON_PATCH).status_code == 404


def test_conditional_patch(client: TestClient) -> None:
    rid = client.post("/fhir/Patient", json=patient(ins="1234567890123")).json()["id"]
    ops = orjson.dumps([{"op": "replace", "path": "/gender", "value": "male"}])
    response = client.patch(f"/fhir/Patient?identifier={INS_OID}|1234567890123", content=ops, headers=JSON_PATCH)
    assert response.status_code == 200
    assert response.json()["id"] == rid
    assert client.patch(f"/fhir/Patient?identifier={INS_OID}|0", content=ops, headers=JSON_PATCH).status_code == 404


def test_patch_entries_in_a_transaction(client: TestClient) -> None:
    rid = client.post("/fhir/Patient", json=patient()).json()["id"]
    other = client.post("/fhir/Patient", json=patient(family="Autre")).json()["id"]
    json_patch = base64.b64encode(orjson.dumps([{"op": "add", "path": "/active", "value": False}])).decode()
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": fhirpath_replace("Patient.gender", "unknown"),
         "request": {"method": "PATCH", "url": f"Patient/{rid}"}},
        {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": json_patch},
         "request": {"method": "PATCH", "url": f"Patient/{other}"}},
    ]}
    response = client.post("/fhir", json=bundle)
    assert response.status_code == 200, response.text
    assert [e["response"]["status"] for e in response.json()["entry"]] == ["200 OK", "200 OK"]
    assert client.get(f"/fhir/Patient/{rid}").json()["gender"] == "unknown"
    assert client.get(f"/fhir/Patient/{other}").json()["active"] is False
