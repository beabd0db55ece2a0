"""What prescriptions received over MLLP mean for the pathway: an inclusion Task for the nurse (never an
enrolment), once however often the message is resent; and DC of the anticancer drug ending the episode."""

from __future__ import annotations

from adapters.dpi.service import DpiService
from adapters.fhir_client import FhirClient
from tests.adapters.dpi.dpi_helpers import MllpClient, message, search, with_control_id
from tests.pathway.data import consent

PLACER = "https://oncolink.example.org/fhir/sid/hl7v2/DPI-ONCO"
TASK_TYPE = "https://oncolink.example.org/fhir/CodeSystem/oncolink-task-type"


async def _send(dpi: DpiService, *payloads: bytes) -> list[str]:
    client = await MllpClient.connect(dpi.mllp_port)
    try:
        return [(await client.send(p)).code for p in payloads]
    finally:
        await client.close()


def _stop_capecitabine() -> bytes:
    """rde_o11_dc.hl7 discontinues the ondansetron order; the same DC for the capecitabine order."""
    raw = message("rde_o11_dc.hl7").replace(b"CMD-1002", b"CMD-1001").replace(b"RDE-DC", b"RDE-DC-1001")
    return raw.replace(b"3400930000052^ONDANSETRON 8 mg cp^CIP|8", b"3400936409867^CAPECITABINE ACCORD 500 mg "
                                                                   b"cp pellic^CIP|2000")


async def test_an_eligible_prescription_gives_one_inclusion_task_and_never_an_enrolment(
    dpi: DpiService, fhir: FhirClient
) -> None:
    raw = message("rde_o11_three_orders.hl7")
    assert await _send(dpi, raw, with_control_id(raw, "RDE-0001-BIS")) == ["AA", "AA"]
    [capecitabine] = await search(fhir, "MedicationRequest", identifier=f"{PLACER}|CMD-1001")
    # Ondansetron and loperamide are not anticancer drugs: only capecitabine is proposed.
    [task] = await search(fhir, "Task", code=f"{TASK_TYPE}|inclusion-proposal")
    assert task["status"] == "requested" and task["focus"] == {"reference": f"MedicationRequest/{capecitabine['id']}"}
    assert task["for"] == capecitabine["subject"]
    assert await search(fhir, "CarePlan") == []
    [provenance] = await search(fhir, "Provenance", target=f"Task/{task['id']}")
    assert provenance["entity"][0]["what"]["reference"] == f"MedicationRequest/{capecitabine['id']}/_history/1"


async def test_discontinuing_the_anticancer_drug_ends_the_episode(dpi: DpiService, fhir: FhirClient) -> None:
    assert await _send(dpi, message("rde_o11_three_orders.hl7")) == ["AA"]
    [capecitabine] = await search(fhir, "MedicationRequest", identifier=f"{PLACER}|CMD-1001")
    patient = capecitabine["subject"]["reference"]
    hospital = await fhir.create("Organization", {"resourceType": "Organization", "name": "CHU oncologie"})
    pharmacy = await fhir.create("Organization", {"resourceType": "Organization", "name": "Pharmacie du Port"})
    condition = await fhir.create("Condition", {"resourceType": "Condition", "subject": {"reference": patient},
                                                "code": {"text": "Cancer colorectal"}})
    answer = await fhir.operation(f"{patient}/$enroll", {"resourceType": "Parameters", "parameter": [
        {"name": "medicationRequest", "valueReference": {"reference": f"MedicationRequest/{capecitabine['id']}"}},
        {"name": "hospitalTeam", "valueReference": {"reference": f"Organization/{hospital['id']}"}},
        {"name": "pharmacy", "valueReference": {"reference": f"Organization/{pharmacy['id']}"}},
        {"name": "condition", "valueReference": {"reference": f"Condition/{condition['id']}"}},
        {"name": "consent", "resource": consent(patient.split("/", 1)[1])}]})
    episode = next(p["resource"] for p in answer["parameter"] if p["name"] == "episode")
    [task] = await search(fhir, "Task", code=f"{TASK_TYPE}|inclusion-proposal")
    assert task["status"] == "completed"

    # Stopping the ondansetron changes nothing; stopping the capecitabine ends the episode.
    assert await _send(dpi, message("rde_o11_dc.hl7")) == ["AA"]
    assert (await fhir.read("CarePlan", episode["id"]))["status"] == "active"
    assert await _send(dpi, _stop_capecitabine()) == ["AA"]
    ended = await fhir.read("CarePlan", episode["id"])
    assert ended["status"] == "revoked"
    [sequence] = await search(fhir, "CarePlan", **{"part-of": f"CarePlan/{episode['id']}"})
    assert sequence["status"] == "revoked"
    triggers = await search(fhir, "Communication", status="preparation")
    assert sorted(t["topic"]["coding"][0]["code"] for t in triggers) == ["episode-end", "sequence-start"]
    # Resent, the DC changes nothing more.
    assert await _send(dpi, _stop_capecitabine()) == ["AA"]
    assert (await fhir.read("CarePlan", episode["id"]))["meta"]["versionId"] == ended["meta"]["versionId"]
