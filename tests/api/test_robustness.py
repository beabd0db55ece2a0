"""No client input produces a 500: odd bodies, headers and URLs all get a 4xx OperationOutcome."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

ODD_BODIES = [
    b"\xff\xfe\x00garbage",
    b'{"resourceType": "Patient", "name": "not-a-list"}',
    b'{"resourceType": "Patient", "birthDate": 19800615}',
    b'{"resourceType": "Patient", "id": ["x"]}',
    b'{"resourceType": "Patient", "meta": {"versionId": 3}}',
    b'{"resourceType": "Patient", "contained": [{"resourceType": "Nope"}]}',
    b'{"resourceType": "Patient", "extension": [{"url": 5}]}',
    b'{"resourceType": "Patient", "active": "true"}',
    b'{"resourceType": 12}',
    b'{"resourceType": "Patient", "multipleBirthInteger": 1e400}',
    b'"just a string"',
    b"null",
    b'{"resourceType": "Bundle", "type": "transaction", "entry": "x"}',
]

ODD_BUNDLES = [
    b'{"resourceType": "Bundle", "type": "transaction", "entry": [null]}',
    b'{"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {"method": "POST", "url": 3}}]}',
    b'{"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {"method": "GET", "url": "http://x/y"}}]}',
    b'{"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {"method": "PUT", "url": "Patient"},'
    b' "resource": {"resourceType": "Patient"}}]}',
    b'{"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "GET", "url": "Patient/1/x/y"}}]}',
    b'{"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {"method": "POST", "url": "Patient"},'
    b' "resource": {"resourceType": "Patient", "link": [{"other": {"reference": "Patient?"}, "type": "seealso"}]}}]}',
    b'{"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {"method": "PATCH", "url": "Patient/1"},'
    b' "resource": {"resourceType": "Binary", "data": "!!!"}}]}',
]


@pytest.mark.parametrize("body", ODD_BODIES)
def test_odd_resource_bodies(client: TestClient, body: bytes) -> None:
    response = client.post("/fhir/Patient", content=body, headers={"Content-Type": "application/fhir+json"})
    assert 400 <= response.status_code < 500
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("body", ODD_BUNDLES)
def test_odd_bundles(client: TestClient, body: bytes) -> None:
    response = client.post("/fhir", content=body, headers={"Content-Type": "application/fhir+json"})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("url", [
    "/fhir/Patient/%00", "/fhir/Patient/x/_history/abc", "/fhir/Patient/_history?_count=-1",
    "/fhir/_history?_since=2026-13-45T99:00:00Z", "/fhir/Patient/x/_history/99999999999999999999",
    "/fhir/Patient?_count=abc", "/fhir/Patient?birthdate=notadate",
])
def test_odd_urls(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


def test_unexpected_failure_is_an_outcome_with_request_id(client: TestClient, caplog: pytest.LogCaptureFixture,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug must still answer as FHIR, with an id that matches the log line."""
    services = client.app.state.services  # type: ignore[attr-defined]

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("simulated defect")

    monkeypatch.setattr(services.repository, "read", broken)
    response = client.get("/fhir/Patient/any", headers={"X-Request-Id": "req-42"})
    assert response.status_code == 500
    assert response.headers["X-Request-Id"] == "req-42"
    issue = response.json()["issue"][0]
    assert issue["code"] == "exception"
    assert "req-42" in issue["diagnostics"]
    assert any("req-42" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("query", ["identifier=%00", "name=a%00b", "_id=%00", "birthdate=1980%00"])
def test_nul_bytes_in_search_values(client: TestClient, query: str) -> None:
    response = client.get(f"/fhir/Patient?{query}")
    assert response.status_code < 500, response.text


def test_two_parameters_on_one_index_table(client: TestClient) -> None:
    """Two token parameters AND-ed (the MSSanté worker's query): each reads the token table."""
    client.post("/fhir/Communication", json={"resourceType": "Communication", "status": "preparation",
                                             "category": [{"coding": [{"system": "http://x", "code": "coord"}]}]})
    client.post("/fhir/Communication", json={"resourceType": "Communication", "status": "completed",
                                             "category": [{"coding": [{"system": "http://x", "code": "coord"}]}]})
    response = client.get("/fhir/Communication?status=preparation&category=http://x|coord")
    assert response.status_code == 200, response.text
    assert [e["resource"]["status"] for e in response.json()["entry"]] == ["preparation"]
