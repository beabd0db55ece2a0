"""Pharmacy software is notified of its own patients' changes only, as its searches would show them."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from fhir_server.services import Services
from tests.conftest import bearer
from tests.security.test_access import DATA, JEANNE, PAUL

from .conftest import Receiver
from .test_delivery import medication_request, run, subscription


def _world(client: TestClient) -> None:
    for body in DATA:
        assert client.put(f"/fhir/{body['resourceType']}/{body['id']}", json=body).status_code in (200, 201)


def test_pharmacy_is_notified_of_its_patients_only(client: TestClient, services: Services, receiver: Receiver,
                                                    tokens: dict[str, str]) -> None:
    _world(client)
    pharmacy = bearer(tokens["pharmacy-software"])
    created = client.post("/fhir/Subscription", headers=pharmacy,
                          json=subscription(receiver.url, "MedicationRequest?status=active",
                                            payload="application/fhir+json"))
    assert created.status_code == 201, created.text
    jeanne = client.post("/fhir/MedicationRequest", json=medication_request(f"Patient/{JEANNE}")).json()
    client.post("/fhir/MedicationRequest", json=medication_request(f"Patient/{PAUL}"))
    assert run(services) == "1 delivered, 0 to retry, 0 abandoned"
    assert [json.loads(r.body)["id"] for r in receiver.requests] == [jeanne["id"]]


def test_types_outside_the_subscribers_scopes_are_never_sent(client: TestClient, services: Services,
                                                              receiver: Receiver, tokens: dict[str, str]) -> None:
    """The pharmacy software has no Observation scope: a Subscription on them announces nothing."""
    _world(client)
    created = client.post("/fhir/Subscription", headers=bearer(tokens["pharmacy-software"]),
                          json=subscription(receiver.url, "Observation?status=final"))
    assert created.status_code == 201
    client.put("/fhir/Observation/obs-jeanne", json={"resourceType": "Observation", "id": "obs-jeanne",
                                                     "status": "final", "code": {"text": "Tolérance bonne"},
                                                     "subject": {"reference": f"Patient/{JEANNE}"}})
    assert run(services) == "0 delivered, 0 to retry, 0 abandoned"
