"""A pharmacy subscribed to its patients' CarePlans and MedicationRequests is notified on a real
loopback receiver: exact requests, retries, and status=error after repeated failures."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi.testclient import TestClient

from fhir_server.services import Services
from fhir_server.subscriptions.delivery import deliver

from .conftest import Receiver


def subscription(endpoint: str, criteria: str, *, payload: str | None = None,
                 headers: list[str] | None = None) -> dict[str, Any]:
    channel: dict[str, Any] = {"type": "rest-hook", "endpoint": endpoint}
    if payload:
        channel["payload"] = payload
    if headers:
        channel["header"] = headers
    return {"resourceType": "Subscription", "status": "requested", "reason": "Pharmacie d'officine",
            "criteria": criteria, "channel": channel}


def care_plan(patient: str, status: str = "active") -> dict[str, Any]:
    return {"resourceType": "CarePlan", "status": status, "intent": "plan", "subject": {"reference": patient}}


def medication_request(patient: str) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"text": "capécitabine 500 mg"}, "subject": {"reference": patient}}


def subscribe(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/fhir/Subscription", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def run(services: Services) -> str:
    return str(deliver(services, datetime.now(UTC)))


def test_subscription_is_accepted_as_active(client: TestClient, receiver: Receiver) -> None:
    created = subscribe(client, subscription(receiver.url, "CarePlan?subject=Patient/p1"))
    assert created["status"] == "active"
    assert client.get(f"/fhir/Subscription/{created['id']}").json()["status"] == "active"


def test_full_payload_puts_the_resource_with_the_channel_headers(client: TestClient, services: Services,
                                                                 receiver: Receiver) -> None:
    subscribe(client, subscription(receiver.url, "CarePlan?subject=Patient/p1", payload="application/fhir+json",
                                   headers=["Authorization: Bearer pharma-secret", "X-Officine: 0601"]))
    plan = client.post("/fhir/CarePlan", json=care_plan("Patient/p1")).json()
    assert run(services) == "1 delivered, 0 to retry, 0 abandoned"
    [got] = receiver.requests
    assert (got.method, got.path) == ("PUT", f"/hook/CarePlan/{plan['id']}")
    assert got.headers["authorization"] == "Bearer pharma-secret"
    assert got.headers["x-officine"] == "0601"
    assert got.headers["content-type"] == "application/fhir+json"
    assert orjson.loads(got.body) == plan
    # An update is a new version: delivered with its own content.
    updated = client.put(f"/fhir/CarePlan/{plan['id']}", json={**care_plan("Patient/p1", "completed"),
                                                                "id": plan["id"]}).json()
    run(services)
    assert orjson.loads(receiver.requests[1].body) == updated
    assert updated["meta"]["versionId"] == "2"
    assert run(services) == "0 delivered, 0 to retry, 0 abandoned"  # each version once


def test_empty_payload_posts_nothing_to_the_endpoint(client: TestClient, services: Services,
                                                     receiver: Receiver) -> None:
    subscribe(client, subscription(receiver.url, "MedicationRequest?subject=Patient/p1"))
    client.post("/fhir/MedicationRequest", json=medication_request("Patient/p1"))
    run(services)
    [got] = receiver.requests
    assert (got.method, got.path, got.body) == ("POST", "/hook", b"")
    assert "content-type" not in got.headers


def test_changes_outside_the_criteria_are_not_delivered(client: TestClient, services: Services,
                                                        receiver: Receiver) -> None:
    subscribe(client, subscription(receiver.url, "CarePlan?subject=Patient/p1&status=active"))
    client.post("/fhir/CarePlan", json=care_plan("Patient/p2"))  # another pharmacy's patient
    client.post("/fhir/CarePlan", json=care_plan("Patient/p1", "draft"))  # does not match status
    client.post("/fhir/MedicationRequest", json=medication_request("Patient/p1"))  # another type
    assert run(services) == "0 delivered, 0 to retry, 0 abandoned"
    assert receiver.requests == []


def test_a_rolled_back_write_is_never_announced(client: TestClient, services: Services, receiver: Receiver) -> None:
    subscribe(client, subscription(receiver.url, "CarePlan?subject=Patient/p1"))
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": care_plan("Patient/p1"), "request": {"method": "POST", "url": "CarePlan"}},
        {"resource": {"resourceType": "CarePlan"}, "request": {"method": "POST", "url": "CarePlan"}},  # invalid
    ]}
    assert client.post("/fhir", json=bundle).status_code in (400, 422)
    run(services)
    assert receiver.requests == []


def test_receiver_failing_then_recovering_is_retried(client: TestClient, services: Services,
                                                     receiver: Receiver) -> None:
    created = subscribe(client, subscription(receiver.url, "CarePlan?subject=Patient/p1"))
    receiver.responses[:] = [503, 500]
    client.post("/fhir/CarePlan", json=care_plan("Patient/p1"))
    assert run(services) == "0 delivered, 1 to retry, 0 abandoned"
    assert run(services) == "0 delivered, 1 to retry, 0 abandoned"
    assert run(services) == "1 delivered, 0 to retry, 0 abandoned"
    assert [r.method for r in receiver.requests] == ["POST"] * 3
    assert client.get(f"/fhir/Subscription/{created['id']}").json()["status"] == "active"


def test_receiver_always_failing_puts_the_subscription_in_error(client: TestClient, services: Services,
                                                                receiver: Receiver) -> None:
    created = subscribe(client, subscription(receiver.url, "CarePlan?subject=Patient/p1"))
    receiver.responses[:] = [500] * 10
    client.post("/fhir/CarePlan", json=care_plan("Patient/p1"))
    run(services)
    run(services)
    assert run(services) == f"0 delivered, 0 to retry, 1 abandoned, subscriptions in error: {created['id']}"
    stored = client.get(f"/fhir/Subscription/{created['id']}").json()
    assert stored["status"] == "error"
    assert stored["error"] == f"Échec après 3 tentatives : POST {receiver.url} a répondu 500"
    assert stored["meta"]["versionId"] == "2"
    # An errored subscription is no longer fed.
    client.post("/fhir/CarePlan", json=care_plan("Patient/p1"))
    assert run(services) == "0 delivered, 0 to retry, 0 abandoned"
    assert len(receiver.requests) == 3


def test_unreachable_receiver_reason_names_the_connection_failure(client: TestClient, services: Services) -> None:
    created = subscribe(client, subscription("http://127.0.0.1:9/hook", "CarePlan?subject=Patient/p1"))
    client.post("/fhir/CarePlan", json=care_plan("Patient/p1"))
    for _ in range(3):
        run(services)
    stored = client.get(f"/fhir/Subscription/{created['id']}").json()
    assert stored["status"] == "error"
    assert stored["error"].startswith("Échec après 3 tentatives : POST http://127.0.0.1:9/hook a échoué : ConnectError")


def test_an_errored_subscription_resumes_when_requested_again(client: TestClient, services: Services,
                                                              receiver: Receiver) -> None:
    created = subscribe(client, subscription(receiver.url, "CarePlan?subject=Patient/p1"))
    receiver.responses[:] = [500] * 3
    client.post("/fhir/CarePlan", json=care_plan("Patient/p1"))
    for _ in range(3):
        run(services)
    errored = client.get(f"/fhir/Subscription/{created['id']}").json()
    resumed = client.put(f"/fhir/Subscription/{created['id']}", json={**errored, "status": "requested"}).json()
    assert resumed["status"] == "active"
    assert "error" not in resumed
    client.post("/fhir/CarePlan", json=care_plan("Patient/p1"))
    assert run(services) == "1 delivered, 0 to retry, 0 abandoned"


def test_deleted_resources_and_subscriptions_send_nothing(client: TestClient, services: Services,
                                                          receiver: Receiver) -> None:
    created = subscribe(client, subscription(receiver.url, "CarePlan?subject=Patient/p1"))
    plan = client.post("/fhir/CarePlan", json=care_plan("Patient/p1")).json()
    run(services)
    assert client.delete(f"/fhir/CarePlan/{plan['id']}").status_code in (200, 204)
    client.post("/fhir/CarePlan", json=care_plan("Patient/p1"))  # queued, then its subscription goes
    client.delete(f"/fhir/Subscription/{created['id']}")
    assert run(services) == "0 delivered, 0 to retry, 1 abandoned"
    assert len(receiver.requests) == 1


def test_concurrent_passes_send_each_notification_once(client: TestClient, services: Services,
                                                       receiver: Receiver) -> None:
    subscribe(client, subscription(receiver.url, "CarePlan?subject=Patient/p1", payload="application/fhir+json"))
    ids = {client.post("/fhir/CarePlan", json=care_plan("Patient/p1")).json()["id"] for _ in range(30)}
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: run(services), range(4)))
    assert sorted(r.path for r in receiver.requests) == sorted(f"/hook/CarePlan/{i}" for i in ids)


def test_each_entry_of_a_transaction_is_notified(client: TestClient, services: Services, receiver: Receiver) -> None:
    subscribe(client, subscription(receiver.url, "MedicationRequest?subject=Patient/p1",
                                   payload="application/fhir+json"))
    entry = {"resource": medication_request("Patient/p1"), "request": {"method": "POST", "url": "MedicationRequest"}}
    other = {"resource": medication_request("Patient/p2"), "request": {"method": "POST", "url": "MedicationRequest"}}
    response = client.post("/fhir", json={"resourceType": "Bundle", "type": "transaction",
                                          "entry": [entry, other, entry]})
    assert response.status_code == 200, response.text
    locations = [e["response"]["location"].split("/_history")[0] for e in response.json()["entry"]]
    assert run(services) == "2 delivered, 0 to retry, 0 abandoned"
    assert sorted(r.path for r in receiver.requests) == sorted(f"/hook/{loc}" for loc in (locations[0], locations[2]))
