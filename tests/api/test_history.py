"""History: instance, type and system, with _since, _count and stable paging."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from tests.fhir_data import patient


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_instance_history_lists_every_version_newest_first(client: TestClient) -> None:
    created = client.post("/fhir/Patient", json=patient()).json()
    rid = created["id"]
    client.put(f"/fhir/Patient/{rid}", json={**created, "gender": "male"})
    client.delete(f"/fhir/Patient/{rid}")
    bundle = client.get(f"/fhir/Patient/{rid}/_history").json()
    assert bundle["type"] == "history"
    assert bundle["total"] == 3
    methods = [(e["request"]["method"], e["response"]["etag"]) for e in bundle["entry"]]
    assert methods == [("DELETE", 'W/"3"'), ("PUT", 'W/"2"'), ("POST", 'W/"1"')]
    assert "resource" not in bundle["entry"][0]
    assert bundle["entry"][1]["resource"]["gender"] == "male"
    assert client.get("/fhir/Patient/nobody/_history").status_code == 404


def test_type_and_system_history_with_since(client: TestClient) -> None:
    first = client.post("/fhir/Patient", json=patient()).json()
    client.post("/fhir/Observation", json={"resourceType": "Observation", "status": "final", "code": {"text": "poids"}})
    since = first["meta"]["lastUpdated"]
    later = client.post("/fhir/Patient", json=patient(family="Martin")).json()
    type_history = client.get("/fhir/Patient/_history").json()
    assert type_history["total"] == 2
    system = client.get("/fhir/_history").json()
    assert system["total"] == 3
    recent = client.get("/fhir/Patient/_history", params={"_since": later["meta"]["lastUpdated"]}).json()
    assert [e["resource"]["id"] for e in recent["entry"]] == [later["id"]]
    all_since = client.get("/fhir/_history", params={"_since": since}).json()
    assert all_since["total"] == 3
    bad = client.get("/fhir/_history", params={"_since": "yesterday"})
    assert bad.status_code == 400
    assert bad.json()["issue"][0]["expression"] == ["_since"]


def test_history_paging_is_stable_while_writes_continue(client: TestClient) -> None:
    ids = [client.post("/fhir/Patient", json=patient(family=f"F{i}")).json()["id"] for i in range(5)]
    page1 = client.get("/fhir/Patient/_history", params={"_count": 2}).json()
    assert page1["total"] == 5
    assert [e["resource"]["id"] for e in page1["entry"]] == ids[::-1][:2]
    links = {link["relation"]: link["url"] for link in page1["link"]}
    assert "previous" not in links
    client.post("/fhir/Patient", json=patient(family="Late"))
    page2 = client.get(_path(links["next"])).json()
    assert page2["total"] == 5
    assert [e["resource"]["id"] for e in page2["entry"]] == ids[::-1][2:4]
    links2 = {link["relation"]: link["url"] for link in page2["link"]}
    page3 = client.get(_path(links2["next"])).json()
    assert [e["resource"]["id"] for e in page3["entry"]] == ids[:1]
    assert "next" not in {link["relation"] for link in page3["link"]}
    back = client.get(_path(links2["previous"])).json()
    assert [e["resource"]["id"] for e in back["entry"]] == ids[::-1][:2]
