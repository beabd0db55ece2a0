"""Batch and transaction Bundles: reference rewriting, conditional entries, order, atomicity."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi.testclient import TestClient
from sqlalchemy import Connection

from fhir_server.repository import Stored
from fhir_server.services import Services
from tests.fhir_data import INS_OID, patient


def post_bundle(client: TestClient, kind: str, entries: list[dict], **headers: str):
    return client.post("/fhir", json={"resourceType": "Bundle", "type": kind, "entry": entries}, headers=headers)


OBS_URN = "urn:uuid:0b7d3c52-1111-4c8e-9d0e-3a5f1a2b3c4d"
PAT_URN = "urn:uuid:8f0e5c3a-2222-4b1d-8f6e-1c2d3e4f5a6b"
POST_OBS = {"method": "POST", "url": "Observation"}
POST_PAT = {"method": "POST", "url": "Patient"}


def obs(subject: str) -> dict:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "poids"},
            "subject": {"reference": subject}}


def test_transaction_rewrites_urn_uuid_references(client: TestClient) -> None:
    response = post_bundle(client, "transaction", [
        {"fullUrl": OBS_URN, "resource": obs(PAT_URN), "request": POST_OBS},
        {"fullUrl": PAT_URN, "resource": patient(), "request": POST_PAT},
    ])
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in bundle["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    obs_location = bundle["entry"][0]["response"]["location"]
    pat_location = bundle["entry"][1]["response"]["location"]
    assert obs_location.startswith("Observation/") and obs_location.endswith("/_history/1")
    assert "resource" not in bundle["entry"][0]
    pat_id = pat_location.split("/")[1]
    stored = client.get("/fhir/" + obs_location.rsplit("/_history", 1)[0]).json()
    assert stored["subject"]["reference"] == f"Patient/{pat_id}"


def test_transaction_is_all_or_nothing(client: TestClient) -> None:
    response = post_bundle(client, "transaction", [
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "birthDate": "15/06/1980"}, "request": POST_PAT},
    ])
    assert response.status_code == 422
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[1].resource.birthDate"]
    assert issue["diagnostics"].startswith("Bundle.entry[1] (POST Patient): ")
    assert client.get("/fhir/Patient/_history").json()["total"] == 0


def test_transaction_processing_order_and_response_order(client: TestClient) -> None:
    keep = client.put("/fhir/Patient/keep", json={**patient(), "id": "keep"}).json()
    client.put("/fhir/Patient/drop", json={**patient(family="Drop"), "id": "drop"})
    response = post_bundle(client, "transaction", [
        {"request": {"method": "GET", "url": "Patient/keep"}},
        {"resource": {**keep, "gender": "male"}, "request": {"method": "PUT", "url": "Patient/keep"}},
        {"request": {"method": "DELETE", "url": "Patient/drop"}},
        {"resource": patient(family="New"), "request": {"method": "POST", "url": "Patient"}},
    ], Prefer="return=representation")
    assert response.status_code == 200
    entries = response.json()["entry"]
    assert [e["response"]["status"] for e in entries] == ["200 OK", "200 OK", "204 No Content", "201 Created"]
    # GET runs last, so it sees the update made in the same transaction.
    assert entries[0]["resource"]["gender"] == "male"
    assert entries[0]["resource"]["meta"]["versionId"] == "2"
    assert entries[3]["resource"]["name"][0]["family"] == "New"
    assert client.get("/fhir/Patient/drop").status_code == 410


def test_transaction_rejects_two_entries_on_one_resource(client: TestClient) -> None:
    response = post_bundle(client, "transaction", [
        {"resource": {**patient(), "id": "p"}, "request": {"method": "PUT", "url": "Patient/p"}},
        {"request": {"method": "DELETE", "url": "Patient/p"}},
    ])
    assert response.status_code == 400
    assert response.json()["issue"][0]["code"] == "duplicate"


def test_unresolvable_urn_reference_fails_the_transaction(client: TestClient) -> None:
    response = post_bundle(client, "transaction", [
        {"resource": obs("urn:uuid:00000000-0000-4000-8000-000000000000"), "request": POST_OBS},
    ])
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[0].resource"]


def test_conditional_entries_and_references_in_one_transaction(client: TestClient) -> None:
    ins = "1800675123456"
    entries = [
        {"fullUrl": "urn:uuid:6c1f1f38-3333-4a8e-9c2d-0a1b2c3d4e5f", "resource": patient(ins=ins),
         "request": {"method": "PUT", "url": f"Patient?identifier={INS_OID}|{ins}"}},
        {"resource": obs(f"Patient?identifier={INS_OID}|{ins}"), "request": {"method": "POST", "url": "Observation"}},
    ]
    first = post_bundle(client, "transaction", entries)
    assert first.status_code == 200, first.text
    pat_id = first.json()["entry"][0]["response"]["location"].split("/")[1]
    obs_loc = first.json()["entry"][1]["response"]["location"].rsplit("/_history", 1)[0]
    assert client.get(f"/fhir/{obs_loc}").json()["subject"]["reference"] == f"Patient/{pat_id}"
    # The same message again: the Patient is matched and unchanged (no new version), no second Patient appears.
    second = post_bundle(client, "transaction", entries)
    assert second.status_code == 200
    assert second.json()["entry"][0]["response"]["location"] == f"Patient/{pat_id}/_history/1"
    assert client.get("/fhir/Patient/_history").json()["total"] == 1
    changed = [{**entries[0], "resource": {**patient(ins=ins), "gender": "male"}}, entries[1]]
    third = post_bundle(client, "transaction", changed)
    assert third.json()["entry"][0]["response"]["location"] == f"Patient/{pat_id}/_history/2"


def test_several_conditional_updates_in_one_transaction_match_create_and_refuse_together(client: TestClient
                                                                                          ) -> None:
    """The criteria of a transaction's conditional entries are matched together (one lookup per type): a
    match is updated, no match is created (its version records a PUT), two matches refuse the whole."""
    known = client.post("/fhir/Patient", json=patient(ins="1111111111111")).json()

    def put(ins: str, **extra: str) -> dict:
        return {"resource": patient(ins=ins, **extra),
                "request": {"method": "PUT", "url": f"Patient?identifier={INS_OID}|{ins}"}}

    response = post_bundle(client, "transaction", [put("1111111111111", gender="male"), put("2222222222222"),
                                                   put("3333333333333"),
                                                   {"resource": obs(f"Patient?identifier={INS_OID}|3333333333333"),
                                                    "request": POST_OBS}])
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert [e["response"]["status"] for e in entries] == ["200 OK", "201 Created", "201 Created", "201 Created"]
    assert entries[0]["response"]["location"] == f"Patient/{known['id']}/_history/2"
    created = entries[2]["response"]["location"].split("/")[1]
    obs_loc = entries[3]["response"]["location"].rsplit("/_history", 1)[0]
    assert client.get(f"/fhir/{obs_loc}").json()["subject"]["reference"] == f"Patient/{created}"
    history = client.get(f"/fhir/Patient/{created}/_history").json()
    assert history["entry"][0]["request"] == {"method": "PUT", "url": f"Patient/{created}"}

    client.post("/fhir/Patient", json=patient(ins="2222222222222"))
    twice = post_bundle(client, "transaction", [put("4444444444444"), put("2222222222222")])
    assert twice.status_code == 412
    assert "match 2 Patient resources" in twice.json()["issue"][0]["diagnostics"]
    assert client.get("/fhir/Patient", params={"identifier": f"{INS_OID}|4444444444444"}).json()["total"] == 0


def test_conditional_reference_with_url_system(client: TestClient) -> None:
    system = "https://hopital.example.org/ipp"
    body = {**patient(), "identifier": [{"system": system, "value": "IPP-1"}]}
    pat_id = client.post("/fhir/Patient", json=body).json()["id"]
    response = post_bundle(client, "transaction", [
        {"resource": obs(f"Patient?identifier={system}|IPP-1"), "request": POST_OBS}])
    assert response.status_code == 200, response.text
    obs_loc = response.json()["entry"][0]["response"]["location"].rsplit("/_history", 1)[0]
    assert client.get(f"/fhir/{obs_loc}").json()["subject"]["reference"] == f"Patient/{pat_id}"


def test_conditional_create_entry_reuses_match(client: TestClient) -> None:
    existing = client.post("/fhir/Patient", json=patient(ins="2990175123456")).json()
    response = post_bundle(client, "transaction", [
        {"fullUrl": "urn:uuid:9d9d9d9d-4444-4a8e-9c2d-0a1b2c3d4e5f", "resource": patient(ins="2990175123456"),
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={INS_OID}|2990175123456"}},
        {"resource": obs("urn:uuid:9d9d9d9d-4444-4a8e-9c2d-0a1b2c3d4e5f"), "request": POST_OBS},
    ])
    assert response.status_code == 200
    entries = response.json()["entry"]
    assert entries[0]["response"]["status"] == "200 OK"
    assert entries[0]["response"]["location"] == f"Patient/{existing['id']}/_history/1"
    obs_loc = entries[1]["response"]["location"].rsplit("/_history", 1)[0]
    assert client.get(f"/fhir/{obs_loc}").json()["subject"]["reference"] == f"Patient/{existing['id']}"


def test_batch_entries_succeed_or_fail_alone(client: TestClient) -> None:
    response = post_bundle(client, "batch", [
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/unknown"}},
        {"resource": {"resourceType": "Patient", "gender": "robot"}, "request": {"method": "POST", "url": "Patient"}},
    ])
    assert response.status_code == 200
    entries = response.json()["entry"]
    assert response.json()["type"] == "batch-response"
    assert entries[0]["response"]["status"] == "201 Created"
    assert entries[1]["response"]["status"] == "404"
    assert entries[1]["response"]["outcome"]["issue"][0]["code"] == "not-found"
    assert entries[2]["response"]["status"] == "422"
    assert entries[2]["response"]["outcome"]["issue"][0]["expression"] == ["Bundle.entry[2].resource.gender"]
    assert client.get("/fhir/Patient/_history").json()["total"] == 1


def test_bundle_shape_errors(client: TestClient) -> None:
    not_bundle = client.post("/fhir", json=patient())
    assert not_bundle.status_code == 400
    wrong_type = client.post("/fhir", json={"resourceType": "Bundle", "type": "collection"})
    assert wrong_type.status_code == 400
    assert wrong_type.json()["issue"][0]["expression"] == ["Bundle.type"]
    no_request = post_bundle(client, "transaction", [{"resource": patient()}])
    assert no_request.status_code == 400
    assert no_request.json()["issue"][0]["expression"] == ["Bundle.entry[0].request"]
    bad_method = post_bundle(client, "batch", [{"request": {"method": "FETCH", "url": "Patient"}}])
    assert bad_method.status_code == 400
    assert bad_method.json()["issue"][0]["expression"] == ["Bundle.entry[0].request.method"]


def test_transaction_mixing_references_resolved_before_and_during_the_transaction(client: TestClient) -> None:
    """Ids and references between entries are settled before the database transaction begins; a
    conditional reference, which needs a search, is resolved inside it. Both kinds end up in the stored
    bodies and in the search index."""
    system = "https://hopital.example.org/ipp"
    known = client.post("/fhir/Patient", json={**patient(), "identifier": [{"system": system, "value": "IPP-7"}]})
    known_id = known.json()["id"]
    response = post_bundle(client, "transaction", [
        {"fullUrl": PAT_URN, "resource": {**patient(), "name": [{"family": "Entrée", "given": ["Zoé"]}]},
         "request": POST_PAT},
        {"resource": obs(PAT_URN), "request": POST_OBS},
        {"resource": obs(f"Patient?identifier={system}|IPP-7"), "request": POST_OBS},
    ])
    assert response.status_code == 200, response.text
    new_id = response.json()["entry"][0]["response"]["location"].split("/")[1]
    by_new = client.get(f"/fhir/Observation?subject=Patient/{new_id}").json()
    by_known = client.get(f"/fhir/Observation?subject=Patient/{known_id}").json()
    assert (by_new["total"], by_known["total"]) == (1, 1)
    assert [e["resource"]["id"] for e in client.get("/fhir/Patient?family=entree").json()["entry"]] == [new_id]
    assert client.get("/fhir/Patient?given=entree").json()["total"] == 0


def test_index_describes_the_version_a_listener_wrote_in_the_same_transaction(
    client: TestClient, services: Services
) -> None:
    def rename(conn: Connection, written: Sequence[Stored]) -> None:
        for stored in written:
            if stored.res_type == "Patient" and stored.version_id == 1 and stored.content is not None:
                services.repository.update(conn, "Patient", stored.res_id,
                                           {**stored.content, "name": [{"family": "Renommé"}]})

    services.repository.listeners.append(rename)
    response = post_bundle(client, "transaction", [
        {"resource": {**patient(), "name": [{"family": "Avant"}]}, "request": POST_PAT}])
    services.repository.listeners.remove(rename)
    assert response.status_code == 200, response.text
    assert client.get("/fhir/Patient?family=avant").json()["total"] == 0
    assert client.get("/fhir/Patient?family=renomme").json()["total"] == 1
