"""Subscriptions the server could not honour are refused with 422 and the path of the bad element,
and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .test_delivery import subscription

ENDPOINT = "https://officine.example/fhir-hook"


def _with_channel(**changes: Any) -> dict[str, Any]:
    body = subscription(ENDPOINT, "CarePlan?subject=Patient/p1")
    body["channel"] = {k: v for k, v in {**body["channel"], **changes}.items() if v is not None}
    return body


@pytest.mark.parametrize(("body", "code", "expression", "diagnostics"), [
    (_with_channel(type="websocket"), "not-supported", "Subscription.channel.type",
     "Seul channel.type = rest-hook est pris en charge, pas 'websocket'"),
    (_with_channel(endpoint=None), "required", "Subscription.channel.endpoint",
     "Un abonnement rest-hook doit indiquer channel.endpoint"),
    (_with_channel(endpoint="/hook"), "value", "Subscription.channel.endpoint",
     "channel.endpoint doit être une URL absolue http(s), pas '/hook'"),
    (_with_channel(payload="application/fhir+xml"), "not-supported", "Subscription.channel.payload",
     "channel.payload doit être vide ou application/fhir+json, pas 'application/fhir+xml'"),
    (_with_channel(header=["sans deux-points"]), "value", "Subscription.channel.header[0]",
     "channel.header doit être de la forme « Nom: valeur », pas 'sans deux-points'"),
    (subscription(ENDPOINT, "Ordonnance?patient=p1"), "value", "Subscription.criteria",
     "criteria doit commencer par un type de ressource connu, pas 'Ordonnance'"),
    (subscription(ENDPOINT, "Subscription?status=active"), "not-supported", "Subscription.criteria",
     "Un abonnement ne peut pas porter sur des abonnements"),
])
def test_refused_subscriptions(client: TestClient, body: dict[str, Any], code: str, expression: str,
                               diagnostics: str) -> None:
    response = client.post("/fhir/Subscription", json=body)
    assert response.status_code == 422, response.text
    [issue] = response.json()["issue"]
    assert (issue["severity"], issue["code"], issue["expression"], issue["diagnostics"]) == (
        "error", code, [expression], diagnostics)
    assert client.get("/fhir/Subscription").json()["total"] == 0


@pytest.mark.parametrize("criteria", ["CarePlan?pharmacie=0601", "CarePlan?_count=10", "CarePlan?date=demain"])
def test_criteria_the_search_engine_refuses(client: TestClient, criteria: str) -> None:
    response = client.post("/fhir/Subscription", json=subscription(ENDPOINT, criteria))
    assert response.status_code == 422, response.text
    [issue] = response.json()["issue"]
    assert issue["code"] == "value"
    assert issue["expression"] == ["Subscription.criteria"]
    assert issue["diagnostics"].startswith("criteria n'est pas une recherche valide : ")
    assert client.get("/fhir/Subscription").json()["total"] == 0


def test_update_is_checked_too(client: TestClient) -> None:
    created = client.post("/fhir/Subscription", json=subscription(ENDPOINT, "CarePlan")).json()
    response = client.put(f"/fhir/Subscription/{created['id']}",
                          json={**created, "channel": {"type": "email", "endpoint": "mailto:a@b.fr"}})
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["Subscription.channel.type"]
    assert client.get(f"/fhir/Subscription/{created['id']}").json()["meta"]["versionId"] == "1"
