"""Pharmacy orders (RDE^O11, OMP^O09), every ORC-1, dispenses (RDS^O13) and merges (A40) over MLLP."""

from __future__ import annotations

from adapters.dpi.service import DpiService
from adapters.fhir_client import FhirClient
from tests.adapters.dpi.dpi_helpers import MllpClient, count, message, search, strip_meta, with_control_id

CIP = "urn:oid:1.2.250.1.213.2.3.2"
ATC = "http://www.whocc.no/atc"
RPPS = "urn:oid:1.2.250.1.71.4.2.1"
PLACER = "https://oncolink.example.org/fhir/sid/hl7v2/DPI-ONCO"
EDQM = "http://standardterms.edqm.eu"


async def send_all(dpi: DpiService, *names: str) -> list[str]:
    client = await MllpClient.connect(dpi.mllp_port)
    try:
        return [(await client.send(message(name))).code for name in names]
    finally:
        await client.close()


async def order(fhir: FhirClient, number: str) -> dict:
    [request] = await search(fhir, "MedicationRequest", identifier=f"{PLACER}|{number}")
    return request


async def test_rde_with_three_orders_of_one_prescription(dpi: DpiService, fhir: FhirClient) -> None:
    assert await send_all(dpi, "rde_o11_three_orders.hl7") == ["AA"]
    [patient] = await search(fhir, "Patient", identifier="urn:oid:1.2.250.1.999.1.1|0012345")
    requests = await search(fhir, "MedicationRequest", subject=f"Patient/{patient['id']}")
    assert len(requests) == 3
    assert {r["groupIdentifier"]["value"] for r in requests} == {"PRESC-2025-042"}

    capecitabine = await order(fhir, "CMD-1001")
    assert capecitabine["status"] == "active" and capecitabine["intent"] == "filler-order"
    assert capecitabine["identifier"][0]["type"]["coding"][0]["code"] == "PLAC"
    assert capecitabine["authoredOn"] == "2025-03-12T11:00:00+01:00"
    assert capecitabine["category"][0]["coding"][0]["code"] == "outpatient"
    dosage = capecitabine["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 2000, "unit": "mg", "system":
                                                        "http://unitsofmeasure.org", "code": "mg"}
    assert dosage["timing"]["repeat"] == {"frequency": 2, "period": 1, "periodUnit": "d",
                                          "boundsPeriod": {"start": "2025-03-13", "end": "2025-03-26"}}
    assert dosage["route"]["coding"][0] == {"system": EDQM, "code": "20053000", "display": "Voie orale"}
    assert dosage["text"] == "2000 mg BID"
    assert capecitabine["dispenseRequest"]["quantity"]["value"] == 56
    assert capecitabine["dispenseRequest"]["numberOfRepeatsAllowed"] == 2
    assert capecitabine["substitution"] == {"allowedBoolean": False}
    assert capecitabine["note"] == [{"text": "À prendre dans les 30 minutes après le repas."}]
    assert capecitabine["priority"] == "routine"

    medication_id = capecitabine["medicationReference"]["reference"].split("/")[1]
    medication = await fhir.read("Medication", medication_id)
    assert medication["code"]["coding"][:2] == [
        {"system": CIP, "code": "3400936409867", "display": "CAPECITABINE ACCORD 500 mg cp pellic"},
        {"system": ATC, "code": "L01BC06", "display": "capécitabine"}]
    practitioner = await fhir.read("Practitioner", capecitabine["requester"]["reference"].split("/")[1])
    assert practitioner["identifier"][0]["system"] == RPPS and practitioner["identifier"][0]["value"] == "810000012345"
    assert practitioner["name"] == [{"family": "MARTIN", "given": ["Claire"], "prefix": ["Dr"]}]
    assert await count(fhir, "Practitioner") == 1
    assert await count(fhir, "Medication") == 3
    [encounter] = await search(fhir, "Encounter")
    assert capecitabine["encounter"]["reference"] == f"Encounter/{encounter['id']}"


async def test_resent_orders_change_nothing(dpi: DpiService, fhir: FhirClient) -> None:
    raw = message("rde_o11_three_orders.hl7")
    client = await MllpClient.connect(dpi.mllp_port)
    assert (await client.send(raw)).code == "AA"
    before = {t: [strip_meta(r) for r in await search(fhir, t)] for t in
              ("Patient", "MedicationRequest", "Medication", "Practitioner", "Encounter")}
    assert (await client.send(with_control_id(raw, "RDE-0001-R"))).code == "AA"
    assert (await client.send(raw)).code == "AA"
    await client.close()
    after = {t: [strip_meta(r) for r in await search(fhir, t)] for t in before}
    assert after == before


async def test_xo_replaces_the_order(dpi: DpiService, fhir: FhirClient) -> None:
    assert await send_all(dpi, "rde_o11_three_orders.hl7", "rde_o11_xo.hl7") == ["AA", "AA"]
    changed = await order(fhir, "CMD-1001")
    assert changed["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 1500
    assert changed["dispenseRequest"]["quantity"]["value"] == 42
    assert "note" not in changed  # XO replaces: the new message is the whole order
    assert changed["meta"]["versionId"] == "2"
    assert await count(fhir, "MedicationRequest") == 3


async def test_each_status_order_control_moves_the_status(dpi: DpiService, fhir: FhirClient) -> None:
    assert await send_all(dpi, "rde_o11_three_orders.hl7") == ["AA"]
    original = await order(fhir, "CMD-1002")
    for name, status, reason in (("rde_o11_hd.hl7", "on-hold", "attente bilan biologique"),
                                 ("rde_o11_rl.hl7", "active", "attente bilan biologique"),
                                 ("rde_o11_dc.hl7", "stopped", "toxicité digestive"),
                                 ("rde_o11_ca.hl7", "cancelled", "erreur de saisie")):
        assert await send_all(dpi, name) == ["AA"], name
        current = await order(fhir, "CMD-1002")
        assert current["status"] == status, name
        assert current["statusReason"]["coding"][0]["display"] == reason, name
        # Only the status moves: the prescription itself stays as written.
        assert current["dosageInstruction"] == original["dosageInstruction"]
        assert current["medicationReference"] == original["medicationReference"]
    # A cancellation resent is still a cancellation, nothing else.
    assert await send_all(dpi, "rde_o11_ca.hl7") == ["AA"]
    assert (await order(fhir, "CMD-1002"))["status"] == "cancelled"
    assert await count(fhir, "MedicationRequest") == 3


async def test_status_change_of_an_unknown_order_is_ae_on_orc2(dpi: DpiService, fhir: FhirClient) -> None:
    client = await MllpClient.connect(dpi.mllp_port)
    ack = await client.send(message("rde_o11_ca_unknown_order.hl7"))
    await client.close()
    assert ack.code == "AE"
    assert ack.error_locations() == ["ORC^1^2"]
    assert ack.error_codes() == ["204"]
    assert ack.errors[0][4] == "E"
    assert await count(fhir, "MedicationRequest") == 0
    assert await count(fhir, "Patient") == 0  # all or nothing
    entry = dpi.journal.recent(1)[0]
    assert entry.status == "error" and "ORC[1]-2" in (entry.error or "")


async def test_omp_o09_creates_an_order_from_rxo(dpi: DpiService, fhir: FhirClient) -> None:
    assert await send_all(dpi, "omp_o09.hl7") == ["AA"]
    request = await order(fhir, "CMD-2001")
    assert request["intent"] == "order" and request["status"] == "active"
    assert request["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 400
    assert request["dosageInstruction"][0]["timing"]["repeat"]["frequency"] == 1
    assert request["dispenseRequest"]["quantity"] == {"value": 30, "unit": "comprimé", "system":
                                                      "http://unitsofmeasure.org", "code": "{tablet}"}
    medication = await fhir.read("Medication", request["medicationReference"]["reference"].split("/")[1])
    assert {"system": ATC, "code": "L01EA01", "display": "imatinib"} in medication["code"]["coding"]


async def test_rds_o13_records_the_dispense_of_a_known_order(dpi: DpiService, fhir: FhirClient) -> None:
    assert await send_all(dpi, "rde_o11_three_orders.hl7", "rds_o13.hl7", "rds_o13.hl7") == ["AA", "AA", "AA"]
    [dispense] = await search(fhir, "MedicationDispense")
    request = await order(fhir, "CMD-1003")
    assert dispense["authorizingPrescription"] == [{"reference": f"MedicationRequest/{request['id']}"}]
    assert dispense["status"] == "completed"
    assert dispense["whenHandedOver"] == "2025-03-13T14:30:00+01:00"
    assert dispense["quantity"] == {"value": 12, "unit": "gélule", "system": "http://unitsofmeasure.org",
                                    "code": "{capsule}"}
    assert dispense["subject"] == request["subject"]
    assert dispense["performer"][0]["actor"]["display"] == "Paul PHARMA"


async def test_a40_merges_and_moves_references(dpi: DpiService, fhir: FhirClient) -> None:
    codes = await send_all(dpi, "adt_a01_pamfr_ins.hl7", "adt_a28_duplicate.hl7")
    assert codes == ["AA", "AA"]
    [duplicate] = await search(fhir, "Patient", identifier="urn:oid:1.2.250.1.999.1.1|0099999")
    # An order was recorded on the duplicate record before the merge.
    raw = message("rde_o11_three_orders.hl7").replace(b"0012345^^^", b"0099999^^^")
    client = await MllpClient.connect(dpi.mllp_port)
    assert (await client.send(raw)).code == "AA"
    assert (await client.send(message("adt_a40_merge.hl7"))).code == "AA"
    # The merge resent changes nothing more.
    assert (await client.send(message("adt_a40_merge.hl7"))).code == "AA"
    await client.close()

    [survivor] = await search(fhir, "Patient", identifier="urn:oid:1.2.250.1.999.1.1|0012345")
    retired = await fhir.read("Patient", duplicate["id"])
    assert retired["active"] is False
    assert retired["link"] == [{"other": {"reference": f"Patient/{survivor['id']}"}, "type": "replaced-by"}]
    assert survivor["link"] == [{"other": {"reference": f"Patient/{duplicate['id']}"}, "type": "replaces"}]
    requests = await search(fhir, "MedicationRequest")
    assert len(requests) == 3
    assert {r["subject"]["reference"] for r in requests} == {f"Patient/{survivor['id']}"}
    assert await search(fhir, "MedicationRequest", subject=f"Patient/{duplicate['id']}") == []


async def test_a40_for_an_unknown_patient_is_ae_on_mrg1(dpi: DpiService, fhir: FhirClient) -> None:
    client = await MllpClient.connect(dpi.mllp_port)
    ack = await client.send(message("adt_a40_merge.hl7"))
    await client.close()
    assert ack.code == "AE"
    assert ack.error_locations() == ["MRG^1^1"] and ack.error_codes() == ["204"]
