"""`Patient/{id}/$enroll`: the episode, sequence 1, forfaits, trigger and Provenance it writes, and every
refusal with its status and the parameter it names — with nothing written when refused."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.pathway.data import (
    BASE,
    FHIR_JSON,
    consent,
    enroll,
    enrolled_patient,
    ext,
    new_episode,
    out,
    parameters,
    post,
    prescription,
    search,
    site,
)


def _amounts(client: TestClient) -> dict[str, Any]:
    return {c["identifier"][0]["value"].split("/", 1)[1]: c["priceOverride"]["value"]
            for c in search(client, "ChargeItem")}


def test_enrolment_opens_the_episode_and_sequence_1_with_its_forfaits_and_message(client: TestClient) -> None:
    where, patient_id, episode, sequence = new_episode(client)

    assert episode["status"] == "active" and episode["meta"]["profile"] == [f"{BASE}/StructureDefinition/"
                                                                          "oncolink-episode"]
    assert ext(episode, "oncolink-parcours")["code"] == "A"
    assert ext(episode, "oncolink-sequence-number")["code"] == "1"
    assert ext(episode, "oncolink-sequence3-allowed") is True  # capecitabine in mappings/pathway/drugs.toml
    assert ext(episode, "oncolink-telemonitoring") is True
    assert episode["period"] == {"start": "2026-01-05", "end": "2026-11-04"}  # ten months
    team = {p["role"][0]["coding"][0]["code"]: p["member"]["reference"] for p in episode["contained"][0]["participant"]}
    assert team == {"hospital-team": where.hospital, "community-pharmacy": where.pharmacy, "gp": where.gp}
    assert [a["reference"]["reference"] for a in episode["activity"]][0].startswith("MedicationRequest/")

    assert sequence["status"] == "active" and sequence["partOf"] == [{"reference": f"CarePlan/{episode['id']}"}]
    assert sequence["period"] == {"start": "2026-01-05", "end": "2026-02-04"}
    assert ext(sequence, "oncolink-sequence-number")["code"] == "1" and ext(sequence, "oncolink-sequence-renewal") == 0
    # The stored resources are what the operation answered, and conform to the guide's profiles.
    assert client.get(f"/fhir/CarePlan/{episode['id']}").json() == episode
    for resource in (episode, sequence):
        outcome = client.get(f"/fhir/CarePlan/{resource['id']}/$validate").json()
        assert [i for i in outcome["issue"] if i["severity"] == "error"] == []

    # Parcours A, sequence 1: 357 € split between the three actors, plus the first telemonitoring month.
    assert _amounts(client) == {"1/0/hospital": 217, "1/0/community-pharmacist": 90, "1/0/gp": 50,
                                "telesurveillance/2026-01": 28}
    shares = {c["performer"][0]["function"]["coding"][0]["code"]: c["performer"][0]["actor"]["reference"]
              for c in search(client, "ChargeItem")}
    assert shares == {"hospital": where.hospital, "community-pharmacist": where.pharmacy, "gp": where.gp,
                      "telemonitoring-operator": where.hospital}
    [tele] = search(client, "ChargeItem?code=https://oncolink.example.org/fhir/CodeSystem/oncolink-forfait|"
                            "telemonitoring")
    assert tele["occurrencePeriod"] == {"start": "2026-01-05", "end": "2026-01-31"}

    [trigger] = search(client, "Communication?status=preparation")
    assert trigger["topic"]["coding"][0]["code"] == "sequence-start"
    assert trigger["identifier"][0]["value"] == f"{episode['id']}/sequence-start/1/0"
    assert [r["reference"] for r in trigger["recipient"]] == [where.pharmacy, where.gp]
    assert trigger["about"] == [{"reference": f"CarePlan/{episode['id']}"}]

    [provenance] = [p for p in search(client, "Provenance") if p["activity"]["text"].startswith("Inclusion dans")]
    targets = {t["reference"].split("/_history/")[0] for t in provenance["target"]}
    assert {f"CarePlan/{episode['id']}", f"CarePlan/{sequence['id']}", f"Communication/{trigger['id']}"} <= targets
    assert len([t for t in targets if t.startswith("ChargeItem/")]) == 4
    assert {t for t in targets if t.startswith("Task/")} == {f"Task/{t['id']}" for t in search(client, "Task")}
    assert provenance["entity"][0]["what"]["reference"].startswith("MedicationRequest/")


def test_a_hospital_reserve_drug_gives_parcours_b(client: TestClient) -> None:
    _, _, episode, _ = new_episode(client, "L01XX52", telemonitoring=False)  # venetoclax
    assert ext(episode, "oncolink-parcours")["code"] == "B"
    assert _amounts(client) == {"1/0/hospital": 238, "1/0/community-pharmacist": 70, "1/0/gp": 50}


def test_enrolling_the_same_prescription_again_answers_the_same_episode(client: TestClient) -> None:
    where = site(client)
    patient_id, condition = enrolled_patient(client)
    request = prescription(client, patient_id)
    body = parameters(where, request["id"], condition, consent(patient_id))
    first = enroll(client, patient_id, body)
    again = enroll(client, patient_id, body)
    assert out(again, "episode")["id"] == out(first, "episode")["id"]
    assert out(again, "sequence")["id"] == out(first, "sequence")["id"]
    assert len(search(client, "CarePlan")) == 2 and len(search(client, "ChargeItem")) == 4
    assert len(search(client, "Consent")) == 1


def test_the_nurses_inclusion_task_is_completed_by_the_enrolment(client: TestClient) -> None:
    where, patient_id, episode, _ = new_episode(client)
    [task] = search(client, f"Task?patient=Patient/{patient_id}")
    assert task["code"]["coding"][0]["code"] == "inclusion-proposal" and task["status"] == "completed"
    assert task["output"][0]["valueReference"] == {"reference": f"CarePlan/{episode['id']}"}
    assert task["meta"]["versionId"] == "2"


def _refusal(client: TestClient, patient_id: str, body: dict[str, Any], status: int) -> dict[str, Any]:
    response = client.post(f"/fhir/Patient/{patient_id}/$enroll", json=body, headers=FHIR_JSON)
    assert response.status_code == status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    return dict(outcome["issue"][0])


ADJUVANT = {"coding": [{"system": "http://snomed.info/sct", "code": "373846009"}]}
IV = {"coding": [{"system": "http://standardterms.edqm.eu", "code": "20045000", "display": "Voie intraveineuse"}]}


@pytest.mark.parametrize(("case", "status", "parameter", "words"), [
    ("no-consent", 422, "consent", "consentement du patient est requis"),
    ("inactive-consent", 422, "consent", "n'est pas actif"),
    ("consent-of-someone-else", 422, "consent", "ne concerne pas"),
    ("refused-consent", 422, "consent", "refusé"),
    ("not-anticancer", 422, "medicationRequest", "n'est pas un anticancéreux"),
    ("not-oral", 422, "medicationRequest", "voie orale"),
    ("adjuvant-hormone-therapy", 422, "medicationRequest", "hormonothérapie adjuvante"),
    ("hospital-at-home", 422, "hospitalAtHome", "HAD"),
    ("hospital-at-home-encounter", 422, "hospitalAtHome", "HAD"),
    ("no-pharmacy", 400, "pharmacy", "required"),
    ("bad-reference", 400, "hospitalTeam", "valueReference"),
    ("unknown-pharmacy", 422, "pharmacy", "n'existe pas"),
    ("no-condition", 422, "condition", "cancer traité"),
    ("stopped-prescription", 422, "medicationRequest", "n'est pas active"),
])
def test_refusals_name_the_parameter_and_write_nothing(client: TestClient, case: str, status: int,
                                                       parameter: str, words: str) -> None:
    where = site(client)
    patient_id, condition = enrolled_patient(client)
    atc, extra = {"not-anticancer": ("A02BC01", {}), "not-oral": ("L01BC06", {"route": IV}),
                  "adjuvant-hormone-therapy": ("L02BA01", {"courseOfTherapyType": ADJUVANT})}.get(case, ("L01BC06", {}))
    request = prescription(client, patient_id, atc, **extra)
    if case == "stopped-prescription":
        client.put(f"/fhir/MedicationRequest/{request['id']}", json={**request, "status": "stopped"},
                   headers=FHIR_JSON)
    body_consent: dict[str, Any] | None = consent(patient_id)
    if case == "no-consent":
        body_consent = None
    elif case == "inactive-consent":
        body_consent = consent(patient_id, "proposed")
    elif case == "consent-of-someone-else":
        other, _ = enrolled_patient(client, ins="2800675999999")
        body_consent = consent(other)
    elif case == "refused-consent":
        body_consent = {**consent(patient_id), "provision": {"type": "deny"}}
    more: dict[str, Any] = {"hospitalAtHome": {"valueBoolean": True}} if case == "hospital-at-home" else {}
    if case == "hospital-at-home-encounter":
        post(client, "Encounter", {"resourceType": "Encounter", "status": "in-progress", "subject": {
            "reference": f"Patient/{patient_id}"}, "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"}})
    body = parameters(where, request["id"], None if case == "no-condition" else condition, body_consent, **more)
    if case == "no-pharmacy":
        body["parameter"] = [p for p in body["parameter"] if p["name"] != "pharmacy"]
    if case == "bad-reference":
        body["parameter"][1]["valueReference"] = {"reference": "Patient/" + patient_id}
    if case == "unknown-pharmacy":
        body["parameter"][2]["valueReference"] = {"reference": "Organization/nowhere"}

    issue = _refusal(client, patient_id, body, status)
    assert issue["expression"] == [f"Parameters.parameter.where(name='{parameter}')"]
    assert words in issue["diagnostics"] or words == issue["code"]
    assert search(client, "CarePlan") == [] and search(client, "ChargeItem") == []
    assert search(client, "Communication") == [] and search(client, "Consent") == []


def test_a_patient_in_an_active_episode_is_refused_with_409(client: TestClient) -> None:
    where, patient_id, episode, _ = new_episode(client)
    other = prescription(client, patient_id, "L01EA01")  # imatinib, a second drug
    response = client.post(f"/fhir/Patient/{patient_id}/$enroll", headers=FHIR_JSON,
                           json=parameters(where, other["id"], None, consent(patient_id)))
    assert response.status_code == 409
    assert f"CarePlan/{episode['id']}" in response.json()["issue"][0]["diagnostics"]


def test_unknown_patient_is_404_and_a_body_that_is_not_parameters_is_400(client: TestClient) -> None:
    assert client.post("/fhir/Patient/nobody/$enroll", json={"resourceType": "Parameters"},
                       headers=FHIR_JSON).status_code == 404
    patient_id, _ = enrolled_patient(client)
    response = client.post(f"/fhir/Patient/{patient_id}/$enroll", json={"resourceType": "Patient"},
                           headers=FHIR_JSON)
    assert response.status_code == 400 and "Parameters" in response.json()["issue"][0]["diagnostics"]


def test_the_capability_statement_lists_the_pathway_operations_and_the_due_parameter(client: TestClient) -> None:
    resources = {r["type"]: r for r in client.get("/fhir/metadata").json()["rest"][0]["resource"]}
    assert {"name": "enroll", "definition": f"{BASE}/OperationDefinition/oncolink-enroll"} in resources["Patient"][
        "operation"]
    assert {o["name"] for o in resources["CarePlan"]["operation"]} >= {"next-sequence", "renew"}
    assert "due" in {p["name"] for p in resources["ChargeItem"]["searchParam"]}
