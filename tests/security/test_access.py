"""Each role allowed and refused on each kind of interaction, through real tokens of the dev issuer.

Two patients: Jeanne Martin, whose episode care team names the Lilas pharmacy and Dr Petit (GP), and
Paul Durand, followed by another pharmacy. Whatever the route (read, search, includes, chains, `_has`,
history, batch, transaction), the Lilas pharmacist, the GP and the pharmacy software only ever meet Jeanne;
the patient only herself; the hospital team both; the auditor no patient data at all.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from fhir_server.security.dev_issuer import FINESS
from tests.conftest import bearer

JEANNE, PAUL = "patient-jeanne-martin", "patient-paul-durand"
ROLE_CS = "https://oncolink.example.org/fhir/CodeSystem/oncolink-care-team-role"


def _episode(patient: str, pharmacy: str, gp: str | None) -> dict[str, Any]:
    members = [{"member": {"reference": "Organization/org-oncologie-lyon"}},
               {"member": {"reference": f"Organization/{pharmacy}"}}]
    if gp:
        members.append({"member": {"reference": f"Practitioner/{gp}"}})
    return {"resourceType": "CarePlan", "id": f"episode-{patient}", "status": "active", "intent": "plan",
            "subject": {"reference": f"Patient/{patient}"}, "careTeam": [{"reference": "#team"}],
            "contained": [{"resourceType": "CareTeam", "id": "team", "status": "active",
                           "subject": {"reference": f"Patient/{patient}"}, "participant": members}]}


def _observation(res_id: str, patient: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": res_id, "status": "final",
            "code": {"text": "Tolérance"}, "subject": {"reference": f"Patient/{patient}"}}


def _request(res_id: str, patient: str) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": res_id, "status": "active", "intent": "order",
            "medicationCodeableConcept": {"text": "capécitabine"}, "subject": {"reference": f"Patient/{patient}"}}


DATA: list[dict[str, Any]] = [
    {"resourceType": "Organization", "id": "org-oncologie-lyon", "name": "Oncologie Lyon",
     "identifier": [{"system": FINESS, "value": "1690000001"}]},
    {"resourceType": "Organization", "id": "org-pharmacie-lilas", "name": "Pharmacie des Lilas",
     "identifier": [{"system": FINESS, "value": "1690000002"}]},
    {"resourceType": "Organization", "id": "org-pharmacie-autre", "name": "Pharmacie du Port",
     "identifier": [{"system": FINESS, "value": "1690000099"}]},
    {"resourceType": "Practitioner", "id": "gp-paul-petit", "name": [{"family": "Petit"}]},
    {"resourceType": "Patient", "id": JEANNE, "name": [{"family": "Martin", "given": ["Jeanne"]}],
     "generalPractitioner": [{"reference": "Practitioner/gp-paul-petit"}]},
    {"resourceType": "Patient", "id": PAUL, "name": [{"family": "Durand", "given": ["Paul"]}]},
    _episode(JEANNE, "org-pharmacie-lilas", "gp-paul-petit"),
    _episode(PAUL, "org-pharmacie-autre", None),
    _request("mr-jeanne", JEANNE),
    _request("mr-paul", PAUL),
    _observation("obs-jeanne", JEANNE),
    _observation("obs-paul", PAUL),
]


@pytest.fixture
def world(client: TestClient) -> TestClient:
    for body in DATA:
        response = client.put(f"/fhir/{body['resourceType']}/{body['id']}", json=body)
        assert response.status_code in (200, 201), response.text
    return client


def _as(client: TestClient, tokens: dict[str, str], role: str) -> dict[str, str]:
    return bearer(tokens[role])


def _ids(bundle: dict[str, Any], mode: str | None = None) -> set[str]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle.get("entry", [])
            if e.get("resource", {}).get("resourceType") != "OperationOutcome"
            and (mode is None or e.get("search", {}).get("mode") == mode)}


def _diagnostics(response: Any) -> str:
    return " ".join(i.get("diagnostics", "") for i in response.json()["issue"])


# -- authentication ------------------------------------------------------------------------------

def test_no_token_is_401_with_a_bearer_challenge(client: TestClient) -> None:
    response = client.get("/fhir/Patient", headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="oncolink-fhir"'
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "login"


def test_bad_token_is_401_invalid_token(client: TestClient, dev_issuer: Any) -> None:
    forged = dev_issuer.mint("administrator", claims={"aud": "someone-else"})
    response = client.get("/fhir/Patient", headers=bearer(forged))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "wrong audience" in response.headers["www-authenticate"]
    expired = dev_issuer.mint("administrator", now=1_000_000)
    assert client.get("/fhir/Patient", headers=bearer(expired)).status_code == 401


def test_discovery_documents_need_no_token(client: TestClient, dev_issuer: Any) -> None:
    assert client.get("/fhir/metadata", headers={"Authorization": ""}).status_code == 200
    smart = client.get("/fhir/.well-known/smart-configuration", headers={"Authorization": ""})
    assert smart.status_code == 200
    assert smart.json()["token_endpoint"] == dev_issuer.token_url
    assert "permission-v2" in smart.json()["capabilities"]


def test_every_fhir_route_but_discovery_requires_a_token(client: TestClient) -> None:
    """No route may be forgotten: each /fhir route answers 401 without a token."""
    samples = {"res_type": "Patient", "res_id": JEANNE, "version_id": "1", "episode_id": "x", "patient_id": "x"}
    checked = 0
    # FastAPI keeps each included router whole (`original_router`); older versions flattened them.
    routes = [r for entry in client.app.routes  # type: ignore[attr-defined]
              for r in getattr(getattr(entry, "original_router", None), "routes", [entry])]
    for route in routes:
        path = getattr(route, "path", "")
        if not path.startswith("/fhir") or path in ("/fhir/metadata", "/fhir/.well-known/smart-configuration"):
            continue
        for method in sorted(getattr(route, "methods", ()) - {"HEAD"}):
            url = path.format(**samples)
            response = client.request(method, url, headers={"Authorization": ""})
            assert response.status_code == 401, (method, path, response.status_code)
            checked += 1
    assert checked >= 20


# -- community pharmacist ------------------------------------------------------------------------

def test_pharmacist_reads_only_its_care_team_patients(world: TestClient, tokens: dict[str, str]) -> None:
    headers = _as(world, tokens, "community-pharmacist")
    assert world.get("/fhir/MedicationRequest/mr-jeanne", headers=headers).status_code == 200
    hidden = world.get("/fhir/MedicationRequest/mr-paul", headers=headers)
    assert hidden.status_code == 404  # the same answer as for an id that does not exist
    assert world.get(f"/fhir/Patient/{PAUL}", headers=headers).status_code == 404
    assert world.get("/fhir/MedicationRequest/mr-paul/_history/1", headers=headers).status_code == 404
    assert world.get("/fhir/MedicationRequest/mr-paul/_history", headers=headers).status_code == 404
    found = world.get("/fhir/MedicationRequest", params={"_total": "accurate"}, headers=headers).json()
    assert _ids(found) == {"MedicationRequest/mr-jeanne"} and found["total"] == 1
    assert _ids(world.get("/fhir/Patient", headers=headers).json()) == {f"Patient/{JEANNE}"}
    # Non-patient data is governed by the scopes alone: the pharmacist has no Practitioner scope.
    assert world.get("/fhir/Practitioner", headers=headers).status_code == 403


def test_a_remembered_token_keeps_its_limits_and_only_that_token_is_remembered(
        world: TestClient, tokens: dict[str, str]) -> None:
    """Once verified, a token is answered without a new signature check (nor care-team lookup): the same
    rights each time, and a token differing by its signature alone is still refused."""
    token = tokens["community-pharmacist"]
    for _ in range(3):
        assert world.get("/fhir/MedicationRequest/mr-jeanne", headers=bearer(token)).status_code == 200
        assert world.get("/fhir/MedicationRequest/mr-paul", headers=bearer(token)).status_code == 404
    head, _, signature = token.rpartition(".")
    forged = f"{head}.{signature[::-1]}"
    assert world.get("/fhir/MedicationRequest/mr-jeanne", headers=bearer(forged)).status_code == 401


def test_nothing_leaks_through_includes_chains_has_or_history(world: TestClient, tokens: dict[str, str]) -> None:
    headers = _as(world, tokens, "community-pharmacist")
    included = world.get("/fhir/MedicationRequest", params={"_include": "MedicationRequest:subject"},
                         headers=headers).json()
    assert _ids(included) == {"MedicationRequest/mr-jeanne", f"Patient/{JEANNE}"}
    rev = world.get("/fhir/Patient", params={"_revinclude": "Observation:subject"}, headers=headers).json()
    assert _ids(rev) == {f"Patient/{JEANNE}", "Observation/obs-jeanne"}
    # Paul's MedicationRequest is hidden, so asking for it by its patient's name finds nothing.
    chained = world.get("/fhir/MedicationRequest", params={"subject:Patient.name": "Durand"}, headers=headers)
    assert chained.status_code == 200 and _ids(chained.json()) == set()
    # _has: Jeanne matches; Paul would too for the hospital, but he is not visible here.
    has = world.get("/fhir/Patient", params={"_has:MedicationRequest:subject:status": "active"}, headers=headers)
    assert _ids(has.json()) == {f"Patient/{JEANNE}"}
    assert _ids(world.get("/fhir/Patient", params={"_has:MedicationRequest:subject:status": "active"}).json()) == {
        f"Patient/{JEANNE}", f"Patient/{PAUL}"}
    history = world.get("/fhir/MedicationRequest/_history", headers=headers).json()
    assert {e["fullUrl"].rsplit("/", 1)[-1] for e in history["entry"]} == {"mr-jeanne"} and history["total"] == 1
    system = world.get("/fhir", params={"_type": "MedicationRequest,Observation"}, headers=headers).json()
    assert _ids(system) == {"MedicationRequest/mr-jeanne", "Observation/obs-jeanne"}


def test_pharmacist_writes_only_within_its_patients_and_scopes(world: TestClient, tokens: dict[str, str]) -> None:
    headers = _as(world, tokens, "community-pharmacist")
    mine = _observation("obs-pharma-jeanne", JEANNE)
    del mine["id"]
    assert world.post("/fhir/Observation", json=mine, headers=headers).status_code == 201
    other = {**mine, "subject": {"reference": f"Patient/{PAUL}"}}
    refused = world.post("/fhir/Observation", json=other, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["issue"][0]["code"] == "forbidden"
    assert "hors de votre périmètre" in _diagnostics(refused)
    assert world.get("/fhir/Observation", params={"subject": f"Patient/{PAUL}"}).json().get("total") == 1
    # Moving Jeanne's Observation to Paul is a write outside the pharmacist's patients too.
    moved = {**_observation("obs-jeanne", PAUL)}
    assert world.put("/fhir/Observation/obs-jeanne", json=moved, headers=headers).status_code == 403
    assert world.put("/fhir/Observation/obs-paul", json=_observation("obs-paul", JEANNE),
                     headers=headers).status_code == 404
    # No delete scope, no MedicationRequest write scope.
    assert world.delete("/fhir/Observation/obs-jeanne", headers=headers).status_code == 403
    denied = world.post("/fhir/MedicationRequest", json=_request("x", JEANNE), headers=headers)
    assert denied.status_code == 403 and "create" in _diagnostics(denied)


def test_batch_and_transaction_entries_are_checked_one_by_one(world: TestClient, tokens: dict[str, str]) -> None:
    headers = _as(world, tokens, "community-pharmacist")
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "MedicationRequest/mr-jeanne"}},
        {"request": {"method": "GET", "url": "MedicationRequest/mr-paul"}},
        {"request": {"method": "GET", "url": "MedicationRequest?status=active"}},
        {"request": {"method": "DELETE", "url": "Observation/obs-jeanne"}},
    ]}
    answer = world.post("/fhir", json=batch, headers=headers)
    assert answer.status_code == 200
    statuses = [e["response"]["status"] for e in answer.json()["entry"]]
    assert statuses[0].startswith("200") and statuses[1].startswith("404") and statuses[3].startswith("403")
    assert _ids(answer.json()["entry"][2]["resource"]) == {"MedicationRequest/mr-jeanne"}
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:7b0c9e2a-0000-4000-8000-000000000001",
         "resource": {k: v for k, v in _observation("x", JEANNE).items() if k != "id"},
         "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": "urn:uuid:7b0c9e2a-0000-4000-8000-000000000002",
         "resource": {k: v for k, v in _observation("x", PAUL).items() if k != "id"},
         "request": {"method": "POST", "url": "Observation"}},
    ]}
    refused = world.post("/fhir", json=transaction, headers=headers)
    assert refused.status_code == 403
    # All or nothing: Jeanne's Observation of the refused transaction was not kept either.
    assert world.get("/fhir/Observation", params={"subject": f"Patient/{JEANNE}", "_total": "accurate"}
                     ).json()["total"] == 1


# -- other roles ---------------------------------------------------------------------------------

def test_gp_sees_the_patients_whose_care_team_names_him(world: TestClient, tokens: dict[str, str]) -> None:
    headers = _as(world, tokens, "gp")
    assert _ids(world.get("/fhir/CarePlan", headers=headers).json()) == {f"CarePlan/episode-{JEANNE}"}
    assert world.get(f"/fhir/CarePlan/episode-{PAUL}", headers=headers).status_code == 404


def test_pharmacy_software_gets_its_patients_care_plans(world: TestClient, tokens: dict[str, str]) -> None:
    headers = _as(world, tokens, "pharmacy-software")
    assert _ids(world.get("/fhir/CarePlan", headers=headers).json()) == {f"CarePlan/episode-{JEANNE}"}
    assert _ids(world.get("/fhir/MedicationRequest", headers=headers).json()) == {"MedicationRequest/mr-jeanne"}
    assert world.get("/fhir/Observation", headers=headers).status_code == 403  # no Observation scope


def test_patient_sees_and_writes_only_her_compartment(world: TestClient, tokens: dict[str, str]) -> None:
    headers = _as(world, tokens, "patient")
    assert world.get(f"/fhir/Patient/{JEANNE}", headers=headers).status_code == 200
    assert world.get(f"/fhir/Patient/{PAUL}", headers=headers).status_code == 404
    assert _ids(world.get("/fhir/Observation", headers=headers).json()) == {"Observation/obs-jeanne"}
    answer = {"resourceType": "QuestionnaireResponse", "status": "completed",
              "subject": {"reference": f"Patient/{JEANNE}"}, "authored": "2026-12-01T10:00:00Z"}
    assert world.post("/fhir/QuestionnaireResponse", json=answer, headers=headers).status_code == 201
    for_paul = {**answer, "subject": {"reference": f"Patient/{PAUL}"}}
    assert world.post("/fhir/QuestionnaireResponse", json=for_paul, headers=headers).status_code == 403
    observation = {k: v for k, v in _observation("x", JEANNE).items() if k != "id"}
    assert world.post("/fhir/Observation", json=observation, headers=headers).status_code == 403


def test_hospital_team_sees_every_patient(world: TestClient, tokens: dict[str, str]) -> None:
    for role in ("oncologist", "idec", "hospital-pharmacist"):
        found = world.get("/fhir/MedicationRequest", headers=_as(world, tokens, role)).json()
        assert _ids(found) == {"MedicationRequest/mr-jeanne", "MedicationRequest/mr-paul"}, role


def test_only_auditors_read_audit_events_and_nobody_writes_them(world: TestClient, tokens: dict[str, str]) -> None:
    assert world.get("/fhir/AuditEvent", headers=_as(world, tokens, "auditor")).status_code == 200
    refused = world.get("/fhir/AuditEvent", headers=_as(world, tokens, "oncologist"))
    assert refused.status_code == 403 and "auditeurs" in _diagnostics(refused)
    assert world.get("/fhir/Patient", headers=_as(world, tokens, "auditor")).status_code == 403
    event = {"resourceType": "AuditEvent", "type": {"code": "rest"}, "recorded": "2026-12-01T10:00:00Z",
             "agent": [{"requestor": True}], "source": {"observer": {"display": "x"}}}
    assert world.post("/fhir/AuditEvent", json=event).status_code == 403
    # The hospital team's system-level search never lists audit records.
    assert "AuditEvent" not in {e["resource"]["resourceType"] for e in world.get(
        "/fhir", headers=_as(world, tokens, "oncologist")).json().get("entry", [])}


def test_unknown_role_reaches_nothing(world: TestClient, dev_issuer: Any) -> None:
    token = dev_issuer.mint("oncologist", claims={"role": "stagiaire"})
    refused = world.get("/fhir/Patient", headers=bearer(token))
    assert refused.status_code == 403 and "stagiaire" in _diagnostics(refused)


# -- audit ---------------------------------------------------------------------------------------

def _audit(world: TestClient, tokens: dict[str, str], **params: str) -> list[dict[str, Any]]:
    services = world.app.state.services  # type: ignore[attr-defined]
    assert services.audit.flush()
    found = world.get("/fhir/AuditEvent", params={"_count": "200", **params},
                      headers=_as(world, tokens, "auditor")).json()
    return [e["resource"] for e in found.get("entry", []) if e["resource"]["resourceType"] == "AuditEvent"]


def test_every_access_and_refusal_is_audited(world: TestClient, tokens: dict[str, str]) -> None:
    headers = _as(world, tokens, "community-pharmacist")
    world.get("/fhir/MedicationRequest/mr-jeanne", headers=headers)
    world.get("/fhir/MedicationRequest/mr-paul", headers=headers)
    world.delete("/fhir/Observation/obs-jeanne", headers=headers)
    world.get("/fhir/Patient", headers={"Authorization": "Bearer not-a-token"})
    mine = {k: v for k, v in _observation("x", JEANNE).items() if k != "id"}
    created = world.post("/fhir/Observation", json=mine, headers=headers)
    events = _audit(world, tokens)
    by_outcome = {(e["subtype"][0]["code"], e["outcome"], e["entity"][0].get("what", {}).get("reference", ""))
                  for e in events}
    assert ("read", "0", "MedicationRequest/mr-jeanne") in by_outcome
    assert ("read", "4", "MedicationRequest/mr-paul") in by_outcome  # refused: recorded as a minor failure
    assert ("delete", "4", "Observation/obs-jeanne") in by_outcome
    assert any(e["agent"][0]["who"].get("display") == "appelant non authentifié" and e["outcome"] == "4"
               for e in events)
    write = next(e for e in events if e["subtype"][0]["code"] == "create" and e["outcome"] == "0"
                 and e["entity"][0]["what"]["reference"].startswith(f"Observation/{created.json()['id']}/"))
    assert write["agent"][0]["who"] == {"reference": "Practitioner/community-pharmacist-dev"}
    assert write["agent"][0]["network"]["address"] == "testclient"
    assert write["action"] == "C" and write["source"]["observer"]["display"] == "Onco'Link FHIR"
    # The write's record was made in its transaction: exactly one for it, none from the middleware.
    assert sum(1 for e in events if e["subtype"][0]["code"] == "create" and e["outcome"] == "0") == 1


def test_audit_events_are_valid_r4_and_immutable(world: TestClient, tokens: dict[str, str]) -> None:
    world.get("/fhir/Patient", headers=_as(world, tokens, "gp"))
    event = _audit(world, tokens)[0]
    checked = world.post("/fhir/AuditEvent/$validate", json=event)
    assert checked.status_code == 200, checked.text
    for method in ("put", "delete"):
        url = f"/fhir/AuditEvent/{event['id']}"
        call = getattr(world, method)
        answer = call(url, json=event) if method == "put" else call(url)
        assert answer.status_code == 403 and "AuditEvent" in _diagnostics(answer)
