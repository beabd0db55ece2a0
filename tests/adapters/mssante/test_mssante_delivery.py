"""End to end over real TLS: a trigger Communication in the FHIR server becomes one message per recipient,
received by a relay that checked our client certificate; what arrived is parsed and compared with FHIR."""

from __future__ import annotations

import hashlib
from typing import Any

import respx

from adapters.fhir_client import FhirClient
from adapters.mssante.service import start
from adapters.mssante.settings import MssanteSettings

from .helpers import (
    CDA_NS,
    DIRECTORY,
    GP_ADDRESS,
    PHARMACY_ADDRESS,
    RIM_NS,
    directory_gp,
    directory_pharmacy,
    parse,
    searchset,
    seed,
    trigger,
)
from .pki import Pki
from .relay import RelayServer


def directory_routes(mock: respx.MockRouter, *, gp: dict[str, Any] | None = None) -> None:
    mock.get(f"{DIRECTORY}/Organization").respond(json=searchset(directory_pharmacy()))
    mock.get(f"{DIRECTORY}/Practitioner").respond(json=searchset(gp or directory_gp()))


async def run_pass(settings: MssanteSettings, fhir: FhirClient) -> Any:
    service = await start(settings, fhir, loop=False)
    try:
        return await service.run_once()
    finally:
        await service.stop()


async def children(fhir: FhirClient, comm_id: str) -> list[dict[str, Any]]:
    return [c async for c in fhir.search_all("Communication", {"part-of": f"Communication/{comm_id}"})]


async def test_trigger_is_sent_to_each_recipient_over_tls_and_matches_the_care_plan(
        fhir: FhirClient, mss_settings: MssanteSettings, relay_server: RelayServer, pki: Pki) -> None:
    stored = await seed(fhir)
    await fhir.update("Communication", "trig-seq-start-1", trigger())
    with respx.mock(assert_all_called=False) as mock:
        directory_routes(mock)
        report = await run_pass(mss_settings, fhir)
    assert (report.taken_in, report.sent, report.failed, report.errors) == (1, 2, 0, [])

    relay = relay_server.relay
    [to_pharmacy] = relay.to(PHARMACY_ADDRESS)
    [to_gp] = relay.to(GP_ADDRESS)
    assert to_pharmacy.client_cn == pki.client_cn  # the relay saw and checked our certificate
    assert to_pharmacy.tls_version in ("TLSv1.2", "TLSv1.3")
    assert to_pharmacy.mail_from == mss_settings.mssante_sender

    got = parse(to_pharmacy.data)
    message = got.message
    assert message["To"].addresses[0].addr_spec == PHARMACY_ADDRESS
    assert message["Subject"] == "XDM/1.0/DDM+Onco'Link : début de la séquence 1 MARTIN Jeanne 20/02/1948"
    assert message["Message-ID"].strip().startswith("<") and message["Date"]
    assert message["Disposition-Notification-To"] == f"<{mss_settings.mssante_sender}>"
    assert message["X-MSS-CODECDA"] == "18776-5"
    assert message["X-MSS-INS"] == "O"
    assert message.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in message.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html", "application/zip",
        "application/fhir+json"]
    for body in (got.text, got.html):
        assert "248027512345678" in body and "MARTIN" in body
        assert "Capécitabine 500 mg comprimé" in body and "1 000 mg matin et soir" in body
        assert "inhibiteurs de la pompe à protons" in body  # pharmacist's actions
        assert "04 72 00 00 99" in body  # out-of-hours contact of the team
    assert "<strong>" in got.html and "&lt;" not in got.html.split("<body")[0]
    assert got.zip_names == ["README.TXT", "INDEX.HTM", "IHE_XDM/SUBSET01/METADATA.XML",
                             "IHE_XDM/SUBSET01/DOC0001.XML"]

    # The CDA says what the FHIR care plan says.
    episode = stored["CarePlan/episode-jeanne-martin"]
    sequence = stored["CarePlan/sequence-jeanne-martin-1"]
    request = stored["MedicationRequest/mr-capecitabine"]
    cda = got.cda
    assert cda.tag == "{urn:hl7-org:v3}ClinicalDocument"
    assert cda.find("h:code", CDA_NS).get("code") == "18776-5"
    assert cda.find("h:versionNumber", CDA_NS).get("value") == episode["meta"]["versionId"]
    ins = cda.find("h:recordTarget/h:patientRole/h:id", CDA_NS)
    assert (ins.get("root"), ins.get("extension")) == ("1.2.250.1.213.1.4.10", "248027512345678")
    assert cda.find(".//h:assignedAuthor/h:id", CDA_NS).get("extension") == "810001234567"
    material = cda.find(".//h:manufacturedMaterial/h:code", CDA_NS)
    cip13 = next(c for c in request["medicationCodeableConcept"]["coding"] if "1.2.250.1.213.2.3.2" in c["system"])
    assert material.get("code") == cip13["code"]
    assert material.find("h:translation", CDA_NS).get("code") == "L01BC06"
    narrative = "".join(cda.itertext())
    assert request["dosageInstruction"][0]["text"] in narrative
    assert "Séquence 1 — initiation" in narrative and "Parcours A" in narrative
    assert "02/12/2025" in narrative  # sequence end, from the sequence CarePlan
    assert sequence["period"]["end"] == "2025-12-02"
    encounter = cda.find(".//h:encompassingEncounter/h:effectiveTime", CDA_NS)
    assert encounter.find("h:low", CDA_NS).get("value") == "20251103"

    # METADATA.XML describes exactly the document in the archive.
    entry = got.metadata.find(".//rim:ExtrinsicObject", RIM_NS)
    slots = {s.get("name"): [v.text for v in s.findall(".//rim:Value", RIM_NS)]
             for s in entry.findall("rim:Slot", RIM_NS)}
    assert slots["hash"] == [hashlib.sha1(got.cda_bytes).hexdigest()]  # noqa: S324
    assert slots["size"] == [str(len(got.cda_bytes))]
    assert slots["URI"] == ["DOC0001.XML"]
    ids = {e.find("rim:Name/rim:LocalizedString", RIM_NS).get("value"): e.get("value")
           for e in got.metadata.findall(".//rim:ExternalIdentifier", RIM_NS)}
    assert ids["XDSDocumentEntry.patientId"] == "248027512345678^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert ids["XDSSubmissionSet.patientId"] == ids["XDSDocumentEntry.patientId"]
    assert ids["XDSDocumentEntry.uniqueId"] == cda.find("h:id", CDA_NS).get("root")
    author = entry.find(".//rim:Slot[@name='authorPerson']/rim:ValueList/rim:Value", RIM_NS).text
    assert author.startswith("810001234567^ROUX^Claire") and author.endswith("IDNPS")
    type_code = entry.find("rim:Classification[@classificationScheme="
                           "'urn:uuid:f0306f51-975f-434e-a61c-c59651d33983']", RIM_NS)
    assert type_code.get("nodeRepresentation") == "18776-5"
    assert {e["resource"]["resourceType"] for e in got.fhir["entry"]} >= {"Patient", "CarePlan", "MedicationRequest"}

    # The GP got a GP's message, not a pharmacist's.
    gp_text = parse(to_gp.data).text
    assert "Prendre connaissance du plan de soins" in gp_text and "pompe à protons" not in gp_text

    # FHIR shows it: the trigger is completed, each message has its own Communication.
    parent = await fhir.read("Communication", "trig-seq-start-1")
    assert parent["status"] == "completed" and parent["sent"]
    messages = await children(fhir, "trig-seq-start-1")
    assert sorted(m["status"] for m in messages) == ["completed", "completed"]
    by_address = {m["recipient"][0]["display"].split("<")[-1].rstrip(">"): m for m in messages}
    pharmacy_comm = by_address[PHARMACY_ADDRESS]
    assert pharmacy_comm["identifier"][0]["value"] == message["Message-ID"].strip()
    assert pharmacy_comm["recipient"][0]["reference"] == "Organization/org-pharmacie-lilas"
    assert any("250" in n["text"] for n in pharmacy_comm["note"])
    sizes = [p["contentAttachment"]["size"] for p in pharmacy_comm["payload"] if "contentAttachment" in p]
    assert len(got.cda_bytes) in sizes


async def test_same_trigger_never_sends_twice_even_after_restart(
        fhir: FhirClient, mss_settings: MssanteSettings, relay_server: RelayServer) -> None:
    await seed(fhir)
    await fhir.update("Communication", "trig-renew-2", trigger("renew-2", "sequence-renewal"))
    with respx.mock(assert_all_called=False) as mock:
        directory_routes(mock)
        first = await run_pass(mss_settings, fhir)
        # A restart (new service, same database) and the pathway engine emitting the same trigger again.
        await fhir.update("Communication", "trig-renew-2-bis", trigger("renew-2", "sequence-renewal",
                                                                       comm_id="trig-renew-2-bis"))
        second = await run_pass(mss_settings, fhir)
        third = await run_pass(mss_settings, fhir)
    assert first.sent == 2 and second.sent == 0 and third.sent == 0
    assert len(relay_server.relay.messages) == 2
    duplicate = await fhir.read("Communication", "trig-renew-2-bis")
    assert duplicate["status"] == "not-done"
    assert "trig-renew-2" in duplicate["statusReason"]["text"]
    assert await children(fhir, "trig-renew-2-bis") == []
