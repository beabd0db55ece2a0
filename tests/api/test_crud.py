"""Read, vread, create, update, delete: status codes, headers and stored versions."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.fhir_data import patient

FHIR_JSON = "application/fhir+json"


def create(client: TestClient, body: dict, **headers: str):
    return client.post("/fhir/Patient", json=body, headers={"Content-Type": FHIR_JSON, **headers})


def test_create_assigns_id_version_and_headers(client: TestClient) -> None:
    body = patient()
    body["id"] = "client-chosen"
    response = create(client, body)
    assert response.status_code == 201
    created = response.json()
    assert created["id"] != "client-chosen"
    assert created["meta"]["versionId"] == "1"
    assert created["meta"]["lastUpdated"].endswith("Z")
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Location"] == f"http://testserver/fhir/Patient/{created['id']}/_history/1"
    assert response.headers["Last-Modified"].endswith("GMT")
    assert response.headers["content-type"].startswith("application/fhir+json")


def test_read_and_vread(client: TestClient) -> None:
    created = create(client, patient()).json()
    rid = created["id"]
    read = client.get(f"/fhir/Patient/{rid}")
    assert read.status_code == 200
    assert read.json() == created
    assert read.headers["ETag"] == 'W/"1"'
    assert client.get(f"/fhir/Patient/{rid}", headers={"If-None-Match": 'W/"1"'}).status_code == 304
    updated = client.put(f"/fhir/Patient/{rid}", json={**created, "gender": "male"})
    assert updated.status_code == 200
    assert updated.json()["meta"]["versionId"] == "2"
    assert updated.headers["ETag"] == 'W/"2"'
    v1 = client.get(f"/fhir/Patient/{rid}/_history/1")
    assert v1.status_code == 200 and v1.json()["gender"] == "female"
    assert client.get(f"/fhir/Patient/{rid}/_history/2").json()["gender"] == "male"
    missing = client.get(f"/fhir/Patient/{rid}/_history/3")
    assert missing.status_code == 404
    assert missing.json()["issue"][0]["code"] == "not-found"


def test_update_as_create_with_client_id(client: TestClient) -> None:
    response = client.put("/fhir/Patient/pat-001", json={**patient(), "id": "pat-001"})
    assert response.status_code == 201
    assert response.json()["meta"]["versionId"] == "1"
    assert response.headers["Location"] == "http://testserver/fhir/Patient/pat-001/_history/1"
    again = client.put("/fhir/Patient/pat-001", json={**patient(), "id": "pat-001", "gender": "other"})
    assert again.status_code == 200
    assert again.json()["meta"]["versionId"] == "2"


def test_update_with_unchanged_content_makes_no_version(client: TestClient) -> None:
    created = client.put("/fhir/Patient/same", json={**patient(), "id": "same"}).json()
    resent = client.put("/fhir/Patient/same", json={**patient(), "id": "same"})
    assert resent.status_code == 200
    assert resent.headers["ETag"] == 'W/"1"'
    assert resent.json()["meta"] == created["meta"]
    # Client-owned meta (profile, tags) is content: changing it is a change.
    tagged = client.put("/fhir/Patient/same", json={**patient(), "id": "same", "meta": {"tag": [{"code": "t"}]}})
    assert tagged.headers["ETag"] == 'W/"2"'
    assert client.get("/fhir/Patient/same/_history").json()["total"] == 2


def test_update_id_rules(client: TestClient) -> None:
    no_id = client.put("/fhir/Patient/p1", json=patient())
    assert no_id.status_code == 400
    assert no_id.json()["issue"][0]["expression"] == ["Patient.id"]
    mismatch = client.put("/fhir/Patient/p1", json={**patient(), "id": "p2"})
    assert mismatch.status_code == 400
    assert "does not match" in mismatch.json()["issue"][0]["diagnostics"]
    bad = client.put("/fhir/Patient/bad_id!", json={**patient(), "id": "bad_id!"})
    assert bad.status_code == 400


def test_if_match_optimistic_locking(client: TestClient) -> None:
    created = create(client, patient()).json()
    rid = created["id"]
    stale = client.put(f"/fhir/Patient/{rid}", json=created, headers={"If-Match": 'W/"7"'})
    assert stale.status_code == 412
    outcome = stale.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "conflict"
    assert client.get(f"/fhir/Patient/{rid}").json()["meta"]["versionId"] == "1"
    ok = client.put(f"/fhir/Patient/{rid}", json={**created, "gender": "male"}, headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200 and ok.headers["ETag"] == 'W/"2"'


def test_delete_then_gone_and_history_kept(client: TestClient) -> None:
    rid = create(client, patient()).json()["id"]
    deleted = client.delete(f"/fhir/Patient/{rid}")
    assert deleted.status_code == 204
    assert deleted.headers["ETag"] == 'W/"2"'
    gone = client.get(f"/fhir/Patient/{rid}")
    assert gone.status_code == 410
    assert gone.json()["issue"][0]["code"] == "deleted"
    assert client.get(f"/fhir/Patient/{rid}/_history/1").status_code == 200
    assert client.get(f"/fhir/Patient/{rid}/_history/2").status_code == 410
    # Deleting again changes nothing; recreating by update gives version 3.
    assert client.delete(f"/fhir/Patient/{rid}").status_code == 204
    revived = client.put(f"/fhir/Patient/{rid}", json={**patient(), "id": rid})
    assert revived.status_code == 201
    assert revived.json()["meta"]["versionId"] == "3"
    assert client.delete("/fhir/Patient/never-was").status_code == 404


def test_prefer_return(client: TestClient) -> None:
    minimal = create(client, patient(), Prefer="return=minimal")
    assert minimal.status_code == 201
    assert minimal.content == b""
    assert minimal.headers["Location"].endswith("/_history/1")
    oo = create(client, patient(), Prefer="return=OperationOutcome")
    assert oo.status_code == 201
    body = oo.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "information"
    assert "created" in body["issue"][0]["diagnostics"]


def test_unknown_type_and_resource(client: TestClient) -> None:
    unknown_type = client.get("/fhir/Patientt/1")
    assert unknown_type.status_code == 404
    assert "Unknown resource type" in unknown_type.json()["issue"][0]["diagnostics"]
    unknown = client.get("/fhir/Patient/nope")
    assert unknown.status_code == 404
    assert unknown.json()["issue"][0]["code"] == "not-found"


def test_malformed_bodies(client: TestClient) -> None:
    broken = client.post("/fhir/Patient", content=b"{not json", headers={"Content-Type": FHIR_JSON})
    assert broken.status_code == 400
    assert broken.json()["issue"][0]["code"] == "structure"
    empty = client.post("/fhir/Patient", content=b"", headers={"Content-Type": FHIR_JSON})
    assert empty.status_code == 400
    array = client.post("/fhir/Patient", content=b"[]", headers={"Content-Type": FHIR_JSON})
    assert array.status_code == 400
    wrong_type = create(client, {"resourceType": "Observation", "status": "final", "code": {"text": "x"}})
    assert wrong_type.status_code == 400
    assert wrong_type.json()["issue"][0]["expression"] == ["resourceType"]
    deep: dict = {"resourceType": "Patient"}
    node = deep
    for _ in range(200):
        node["extension"] = [{"url": "http://x", "extension": []}]
        node = node["extension"][0]
    nested = create(client, deep)
    assert nested.status_code == 400
    assert nested.json()["issue"][0]["code"] == "too-costly"


def test_format_negotiation(client: TestClient) -> None:
    rid = create(client, patient()).json()["id"]
    assert client.get(f"/fhir/Patient/{rid}?_format=json").status_code == 200
    assert client.get(f"/fhir/Patient/{rid}?_format=application/fhir+json").status_code == 200
    xml = client.get(f"/fhir/Patient/{rid}?_format=xml")
    assert xml.status_code == 406
    assert xml.json()["issue"][0]["code"] == "not-supported"
    assert client.get(f"/fhir/Patient/{rid}", headers={"Accept": "application/fhir+xml"}).status_code == 406
    assert client.get(f"/fhir/Patient/{rid}", headers={"Accept": "text/html, */*;q=0.8"}).status_code == 200
    xml_body = client.post("/fhir/Patient", content=b"<Patient/>", headers={"Content-Type": "application/fhir+xml"})
    assert xml_body.status_code == 415
    pretty = client.get(f"/fhir/Patient/{rid}?_pretty=true")
    assert b"\n  " in pretty.content


def test_unsupported_routes_answer_operation_outcomes(client: TestClient) -> None:
    response = client.post("/fhir/Patient/123", json=patient())
    assert response.status_code == 405
    assert response.json()["resourceType"] == "OperationOutcome"
    assert client.get("/nothing-here").json()["issue"][0]["code"] == "not-found"
