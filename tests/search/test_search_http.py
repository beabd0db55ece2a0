"""The search routes: GET and POST _search, type and system level, lenient and strict handling."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from search_helpers import BASE, FHIR_JSON, create, error, ids, links, search, typed_ids

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def data(client: TestClient) -> None:
    tag = {"tag": [{"system": "http://onco/tags", "code": "demo"}]}
    create(client, {"resourceType": "Patient", "id": "p1", "name": [{"family": "Durand"}], "meta": tag})
    create(client, {"resourceType": "Patient", "id": "p2", "name": [{"family": "Dupont"}]})
    create(client, {"resourceType": "Practitioner", "id": "d1", "name": [{"family": "Durand"}], "meta": tag})
    create(client, {"resourceType": "Organization", "id": "o1", "name": "Durand SA"})


@pytest.mark.usefixtures("data")
def test_get_answers_a_searchset(client: TestClient) -> None:
    response = client.get("/fhir/Patient?name=durand&_format=json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 1
    assert bundle["link"] == [{"relation": "self", "url": f"{BASE}/Patient?name=durand"}]
    assert bundle["entry"] == [{
        "fullUrl": f"{BASE}/Patient/p1",
        "resource": client.get("/fhir/Patient/p1").json(),
        "search": {"mode": "match"},
    }]


@pytest.mark.usefixtures("data")
def test_post_search_merges_url_and_form(client: TestClient) -> None:
    response = client.post("/fhir/Patient/_search?_count=1", content="name=du&name:contains=on", headers=FORM)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert ids(bundle) == ["p2"]
    assert links(bundle)["self"] == f"{BASE}/Patient?name=du&name%3Acontains=on&_count=1"
    empty = client.post("/fhir/Patient/_search", content="", headers=FORM)
    assert ids(empty.json()) == ["p1", "p2"]
    wrong = client.post("/fhir/Patient/_search", content='{"name": "x"}', headers=FHIR_JSON)
    assert wrong.status_code == 415
    assert wrong.json()["issue"][0]["diagnostics"] == (
        "POST _search takes a body of type application/x-www-form-urlencoded, not 'application/fhir+json'")


@pytest.mark.usefixtures("data")
def test_system_search(client: TestClient) -> None:
    bundle = search(client, "/fhir?_type=Patient,Practitioner&name=durand")
    assert typed_ids(bundle, "match") == ["Patient/p1", "Practitioner/d1"]
    assert links(bundle)["self"] == f"{BASE}?name=durand&_type=Patient%2CPractitioner"
    assert typed_ids(search(client, "/fhir?_tag=demo"), "match") == ["Patient/p1", "Practitioner/d1"]
    assert typed_ids(search(client, "/fhir?_id=o1,p2"), "match") == ["Patient/p2", "Organization/o1"]
    posted = client.post("/fhir/_search", content="_type=Organization&name=durand", headers=FORM)
    assert typed_ids(posted.json(), "match") == ["Organization/o1"]
    assert error(client, "/fhir?_type=Nothing") == "Unknown resource type 'Nothing'"
    assert error(client, "/fhir?name=x", prefer="handling=strict") == (
        "Unknown search parameter 'name' for resource type 'Resource'")


@pytest.mark.usefixtures("data")
def test_unknown_parameters_lenient_and_strict(client: TestClient) -> None:
    # an unknown modifier changes the meaning of a known parameter: always an error
    assert error(client, "/fhir/Patient?name:sounds=x") == "Modifier ':sounds' is not supported on string " \
                                                             "parameter 'name'"
    bundle = search(client, "/fhir/Patient?name=durand&nickname=dudu&_text=x")
    assert ids(bundle) == ["p1"]
    assert links(bundle)["self"] == f"{BASE}/Patient?name=durand"
    outcome = bundle["entry"][-1]
    assert outcome == {
        "resource": {"resourceType": "OperationOutcome", "issue": [
            {"severity": "warning", "code": "not-supported", "expression": ["nickname"],
             "diagnostics": "Unknown search parameter 'nickname' for resource type 'Patient': ignored"},
            {"severity": "warning", "code": "not-supported", "expression": ["_text"],
             "diagnostics": "Search parameter '_text' (string) is not supported: ignored"},
        ]},
        "search": {"mode": "outcome"},
    }
    response = client.get("/fhir/Patient?name=durand&nickname=dudu", headers={"Prefer": "handling=strict"})
    assert response.status_code == 400
    assert response.json()["issue"] == [{"severity": "error", "code": "not-supported",
                                         "diagnostics": "Unknown search parameter 'nickname' for resource type "
                                                        "'Patient'"}]


def test_unknown_type_is_404(client: TestClient) -> None:
    assert client.get("/fhir/Nothing?name=x").status_code == 404


@pytest.mark.usefixtures("data")
def test_search_in_batch(client: TestClient) -> None:
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient?name=dupont"}},
        {"request": {"method": "GET", "url": "Patient?birthdate=bad"}},
    ]}
    response = client.post("/fhir", json=batch, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    first, second = response.json()["entry"]
    assert first["response"]["status"] == "200 OK"
    assert ids(first["resource"]) == ["p2"]
    assert second["response"]["status"].startswith("400")
