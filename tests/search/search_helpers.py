"""Small helpers for search tests: create resources through the API, read ids out of Bundles."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

FHIR_JSON = {"Content-Type": "application/fhir+json"}
BASE = "http://testserver/fhir"


def create(client: TestClient, resource: dict[str, Any]) -> str:
    """PUT with the resource's own id when it has one (readable tests), POST otherwise."""
    if "id" in resource:
        response = client.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource,
                              headers=FHIR_JSON)
    else:
        response = client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=FHIR_JSON)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def search(client: TestClient, url: str, status: int = 200, **headers: str) -> dict[str, Any]:
    response = client.get(url, headers=headers)
    assert response.status_code == status, response.text
    return dict(response.json())


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def typed_ids(bundle: dict[str, Any], mode: str = "include") -> list[str]:
    return [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])
            if e["search"]["mode"] == mode]


def links(bundle: dict[str, Any]) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in bundle.get("link", [])}


def search_ids(client: TestClient, url: str) -> list[str]:
    return ids(search(client, url))


def error(client: TestClient, url: str, status: int = 400, **headers: str) -> str:
    """The diagnostics of the single issue of an error answer."""
    response = client.get(url, headers=headers)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert len(body["issue"]) == 1
    return str(body["issue"][0]["diagnostics"])


def mismatches(client: TestClient, res_type: str, cases: list[tuple[str, list[str]]]
               ) -> list[tuple[str, list[str], list[str]]]:
    """(query, found, expected) for each case whose match ids (in order) differ: one test runs a whole
    table of queries against one data set, and a failure lists every wrong query at once."""
    out = []
    for query, expected in cases:
        found = search_ids(client, f"/fhir/{res_type}?{query}")
        if found != expected:
            out.append((query, found, expected))
    return out
