"""ADT identity and movement messages over real MLLP sockets, checked in the FHIR resources produced."""

from __future__ import annotations

from adapters.dpi.service import DpiService
from adapters.fhir_client import FhirClient
from tests.adapters.dpi.dpi_helpers import MllpClient, count, message, search, strip_meta, with_control_id

IPP = "urn:oid:1.2.250.1.999.1.1|0012345"
INS_TEST = "urn:oid:1.2.250.1.213.1.4.10"
IDENTITY_EXT = "http://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-ident-reliability"


async def test_pamfr_admission_creates_patient_with_ins_and_encounter(dpi: DpiService, fhir: FhirClient) -> None:
    client = await MllpClient.connect(dpi.mllp_port)
    ack = await client.send(message("adt_a01_pamfr_ins.hl7"))
    await client.close()
    assert ack.code == "AA"
    assert ack.control_id == "A01-0001"
    assert ack.segment("MSH")[8] == "ACK^A01^ACK"
    assert ack.segment("MSH")[17] == "UNICODE UTF-8"

    [patient] = await search(fhir, "Patient", identifier=IPP)
    ins = next(i for i in patient["identifier"] if i["system"] == INS_TEST)
    assert ins == {"use": "official", "type": {"coding": [{"system": "http://hl7.fr/ig/fhir/core/CodeSystem/"
                                                                     "fr-core-v2-0203", "code": "INS-NIR",
                                                           "display": "NIR de test"}]},
                   "system": INS_TEST, "value": "279035121518989"}
    assert patient["name"][0] == {"use": "official", "family": "DUPRÉ", "given": ["Héloïse", "Marie"]}
    assert patient["name"][1]["use"] == "usual" and patient["name"][1]["family"] == "MARTIN"
    assert patient["gender"] == "female" and patient["birthDate"] == "1979-03-28"
    assert patient["address"] == [{"use": "home", "line": ["12 rue des Écoles", "Bâtiment B"],
                                   "city": "Clermont-Ferrand", "postalCode": "63000", "country": "FRA"}]
    assert {"system": "phone", "value": "0612345678", "use": "mobile"} in patient["telecom"]
    assert {"system": "email", "value": "heloise.dupre@example.fr"} in patient["telecom"]
    reliability = next(e for e in patient["extension"] if e["url"] == IDENTITY_EXT)
    assert reliability["extension"][0]["valueCoding"]["code"] == "VALI"
    birth_place = next(e for e in patient["extension"] if e["url"].endswith("patient-birthPlace"))
    assert birth_place["valueAddress"] == {"district": "63113"}

    [encounter] = await search(fhir, "Encounter", identifier="urn:oid:1.2.250.1.999.1.1|VIS-2025-0001")
    assert encounter["status"] == "in-progress"
    assert encounter["class"]["code"] == "IMP"
    assert encounter["subject"]["reference"] == f"Patient/{patient['id']}"
    assert {"system": "urn:oid:1.2.250.1.999.1.1", "value": "MVT-0001"} in encounter["identifier"]
    assert encounter["period"]["start"] == "2025-03-12T10:10:00+01:00"
    assert encounter["serviceProvider"] == {"display": "Oncologie médicale"}

    [provenance] = await search(fhir, "Provenance", target=f"Patient/{patient['id']}")
    assert provenance["entity"][0]["what"]["identifier"]["value"] == "A01-0001"
    assert {t["reference"] for t in provenance["target"]} == {f"Patient/{patient['id']}",
                                                              f"Encounter/{encounter['id']}"}

    entry = dpi.journal.recent(1)[0]
    assert (entry.status, entry.ack_code, entry.control_id, entry.message_type) == ("accepted", "AA", "A01-0001",
                                                                                      "ADT^A01")
    assert entry.raw == message("adt_a01_pamfr_ins.hl7")
    assert sorted(r.split("/")[0] for r in entry.resources) == ["Encounter", "Patient", "Provenance"]
    assert entry.unmapped == []


async def test_latin1_message_keeps_accents_and_ack_is_latin1(dpi: DpiService, fhir: FhirClient) -> None:
    raw = message("adt_a04_latin1.hl7")
    assert "LEFÈVRE".encode("iso-8859-1") in raw
    client = await MllpClient.connect(dpi.mllp_port)
    ack = await client.send(raw)
    await client.close()
    assert ack.code == "AA"
    assert ack.segment("MSH")[17] == "8859/1"
    [patient] = await search(fhir, "Patient", identifier="urn:oid:1.2.250.1.999.1.1|0067890")
    assert patient["name"][0]["family"] == "LEFÈVRE" and patient["name"][0]["given"] == ["Hélène"]
    assert patient["address"][0]["line"] == ["3 place de l'Église"]
    assert patient["address"][0]["city"] == "Saint-Étienne"
    [encounter] = await search(fhir, "Encounter", subject=f"Patient/{patient['id']}")
    assert encounter["class"]["code"] == "AMB"


async def test_a08_updates_identity_and_adds_the_ins(dpi: DpiService, fhir: FhirClient) -> None:
    client = await MllpClient.connect(dpi.mllp_port)
    assert (await client.send(message("adt_a04_latin1.hl7"))).code == "AA"
    assert (await client.send(message("adt_a08_update.hl7"))).code == "AA"
    await client.close()
    [patient] = await search(fhir, "Patient", identifier="urn:oid:1.2.250.1.999.1.1|0067890")
    assert patient["address"][0]["line"] == ["7 avenue Jean-Jaurès"]
    assert {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "248077512345678"}.items() <= \
        next(i for i in patient["identifier"] if i["value"] == "248077512345678").items()
    assert patient["meta"]["versionId"] == "2"
    assert await count(fhir, "Patient") == 1


async def test_a28_a31_with_lf_and_crlf_separators(dpi: DpiService, fhir: FhirClient) -> None:
    client = await MllpClient.connect(dpi.mllp_port)
    assert (await client.send(message("adt_a28_add_person.hl7"))).code == "AA"
    assert (await client.send(message("adt_a31_update_person.hl7"))).code == "AA"
    await client.close()
    [patient] = await search(fhir, "Patient", identifier="urn:oid:1.2.250.1.999.1.1|0055555")
    assert patient["name"][0]["family"] == "NGUYỄN"
    assert patient["address"][0]["line"] == ["2 rue Basse"]
    assert patient["telecom"] == [{"system": "phone", "value": "0478000000", "use": "home"}]


async def test_resending_a_message_leaves_the_same_data(dpi: DpiService, fhir: FhirClient) -> None:
    raw = message("adt_a01_pamfr_ins.hl7")
    client = await MllpClient.connect(dpi.mllp_port)
    assert (await client.send(raw)).code == "AA"
    first_patient = await search(fhir, "Patient")
    first_encounter = await search(fhir, "Encounter")
    for resend in (raw, with_control_id(raw, "A01-0001-BIS")):
        ack = await client.send(resend)
        assert ack.code == "AA"
    await client.close()
    patients, encounters = await search(fhir, "Patient"), await search(fhir, "Encounter")
    assert [strip_meta(p) for p in patients] == [strip_meta(p) for p in first_patient]
    assert [strip_meta(e) for e in encounters] == [strip_meta(e) for e in first_encounter]
    assert await count(fhir, "Provenance") == 1
    assert dpi.journal.count("accepted") == 3
