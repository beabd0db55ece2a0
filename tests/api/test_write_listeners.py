"""Write listeners: reactions to a transaction's writes commit with it, or not at all."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi.testclient import TestClient
from sqlalchemy import Connection

from fhir_server.repository import Stored
from fhir_server.services import Services
from tests.fhir_data import patient

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def test_listener_sees_each_version_once_and_its_writes_commit_with_the_request(
    client: TestClient, services: Services
) -> None:
    seen: list[tuple[str, int]] = []

    def flag_new_patients(conn: Connection, written: Sequence[Stored]) -> None:
        seen.extend((s.res_type, s.version_id) for s in written)
        for s in written:
            if s.res_type == "Patient" and s.version_id == 1:
                services.repository.create(conn, "Flag", {
                    "resourceType": "Flag", "status": "active", "code": {"text": "nouveau patient"},
                    "subject": {"reference": f"Patient/{s.res_id}"}})

    services.repository.listeners.append(flag_new_patients)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}} for _ in range(2)]}
    assert client.post("/fhir", json=bundle, headers=FHIR_JSON).status_code == 200
    # The two Patients, then what was written in reaction (handed round once more): the request's audit
    # record, and the two Flags the listener wrote.
    assert seen == [("Patient", 1), ("Patient", 1), ("AuditEvent", 1), ("Flag", 1), ("Flag", 1)]
    flags = client.get("/fhir/Flag").json()
    assert flags["total"] == 2


def test_failing_listener_rolls_back_the_write(client: TestClient, services: Services) -> None:
    def refuse(conn: Connection, written: Sequence[Stored]) -> None:
        raise RuntimeError("listener broke")

    services.repository.listeners.append(refuse)
    response = client.post("/fhir/Patient", json=patient(), headers=FHIR_JSON)
    assert response.status_code == 500
    assert response.json()["issue"][0]["code"] == "exception"
    services.repository.listeners.clear()
    assert client.get("/fhir/Patient").json()["total"] == 0
