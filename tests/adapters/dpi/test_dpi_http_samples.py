"""`POST /hl7v2` on the real app, public sample messages, concurrency and per-patient order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from adapters.dpi.mllp import frame
from adapters.dpi.service import DpiService
from adapters.fhir_client import FhirClient
from tests.adapters.dpi.dpi_helpers import Ack, MllpClient, count, message, search
from tests.conftest import SHARED

SAMPLES = sorted((SHARED / "samples" / "hl7v2" / "ms-fhir-converter").glob("*.hl7"))
ER7 = "x-application/hl7-v2+er7"


@pytest.fixture
async def http(app: FastAPI, dpi: DpiService, tokens: dict[str, str]) -> httpx.AsyncClient:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                 headers={"Authorization": f"Bearer {tokens['dpi-interface']}"}) as client:
        yield client


async def test_post_hl7v2_answers_the_ack(http: httpx.AsyncClient, fhir: FhirClient) -> None:
    response = await http.post("/hl7v2", content=message("adt_a04_latin1.hl7"), headers={"Content-Type": ER7})
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{ER7}; charset=ISO-8859-1"
    ack = Ack.parse(response.content)
    assert (ack.code, ack.control_id) == ("AA", "A04-0001")
    [patient] = await search(fhir, "Patient", identifier="urn:oid:1.2.250.1.999.1.1|0067890")
    assert patient["name"][0]["family"] == "LEFÈVRE"

    refused = await http.post("/hl7v2", content=message("adt_a01_bad_birthdate.hl7"), headers={"Content-Type":
                                                                                              "text/plain"})
    assert refused.status_code == 200
    assert Ack.parse(refused.content).error_locations() == ["PID^1^7"]


async def test_post_hl7v2_http_errors(http: httpx.AsyncClient, dpi: DpiService) -> None:
    assert (await http.post("/hl7v2", content=b"{}", headers={"Content-Type": "application/json"})).status_code == 415
    assert (await http.post("/hl7v2", content=b"  ", headers={"Content-Type": ER7})).status_code == 400
    too_big = b"MSH|^~\\&|" + b"X" * (dpi.settings.mllp_max_message_bytes + 1)
    assert (await http.post("/hl7v2", content=too_big, headers={"Content-Type": ER7})).status_code == 413
    assert dpi.journal.count() == 0


async def test_oversized_mllp_message_gets_ar_and_the_next_one_aa(dpi: DpiService) -> None:
    big = message("adt_a28_add_person.hl7") + b"NTE|1||" + b"x" * dpi.settings.mllp_max_message_bytes + b"\r"
    client = await MllpClient.connect(dpi.mllp_port)
    await client.send_raw(frame(big))
    refused = Ack.parse(await client.read_ack())
    assert (refused.code, refused.control_id, refused.error_codes()) == ("AR", "A28-0001", ["207"])
    assert (await client.send(message("adt_a28_add_person.hl7"))).code == "AA"
    await client.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_every_public_sample_gets_an_ack(dpi: DpiService) -> None:
    """139 messages of many kinds: each one answered AA, or AE/AR with ERR, never an exception."""
    assert len(SAMPLES) >= 139
    codes: dict[str, str] = {}
    for path in SAMPLES:
        outcome = await dpi.process(path.read_bytes(), transport="test", peer=path.name)
        ack = Ack.parse(outcome.ack)
        assert ack.code in ("AA", "AE", "AR"), path.name
        assert ack.code == "AA" or ack.errors, path.name
        assert outcome.status != "failed", (path.name, outcome.problems)  # failed = our bug or the server's
        codes[path.name] = ack.code
    accepted = {n for n, c in codes.items() if c == "AA"}
    assert {"ADT-A01-01.hl7", "ADT-A08-01.hl7", "ADT-A28-01.hl7", "RDE-O11-01.hl7", "RDE-O11-02.hl7",
            "RDS-O13-01.hl7"} <= accepted
    assert codes["ORU-R01-01.hl7"] == "AR" and codes["ADT-A02-01.hl7"] == "AR"


async def test_pipelined_updates_of_one_patient_apply_in_order(dpi: DpiService, fhir: FhirClient) -> None:
    base = message("adt_a31_update_person.hl7")
    client = await MllpClient.connect(dpi.mllp_port)
    payloads = [base.replace(b"2 rue Basse", f"{n} rue Basse".encode()).replace(b"A31-0001", f"A31-{n:04d}".encode())
                for n in range(1, 11)]
    await client.send_raw(b"".join(frame(p) for p in payloads))
    acks = [Ack.parse(await client.read_ack()) for _ in payloads]
    await client.close()
    assert [a.control_id for a in acks] == [f"A31-{n:04d}" for n in range(1, 11)]
    assert {a.code for a in acks} == {"AA"}
    [patient] = await search(fhir, "Patient")
    assert patient["address"][0]["line"] == ["10 rue Basse"]
    assert patient["meta"]["versionId"] == "10"


async def test_concurrent_senders_same_prescriber_and_drugs(dpi: DpiService, fhir: FhirClient) -> None:
    """Four DPIs at once, different patients, the same prescriber and drugs: no duplicate shared resource."""
    raw = message("rde_o11_three_orders.hl7")

    async def sender(n: int) -> list[str]:
        client = await MllpClient.connect(dpi.mllp_port)
        codes = []
        for i in range(5):
            ipp = f"{n}{i:05d}".encode()
            payload = raw.replace(b"0012345^^^", ipp + b"^^^").replace(b"CMD-100", f"C{n}{i}-".encode()) \
                .replace(b"VIS-2025-0001", b"VIS-" + ipp)
            codes.append((await client.send(payload)).code)
        await client.close()
        return codes

    results = await asyncio.gather(*(sender(n) for n in range(1, 5)))
    assert all(code == "AA" for codes in results for code in codes)
    assert await count(fhir, "Patient") == 20
    assert await count(fhir, "MedicationRequest") == 60
    assert await count(fhir, "Practitioner") == 1
    assert await count(fhir, "Medication") == 3


def test_samples_folder_is_read_from_shared() -> None:
    assert SHARED.name == "shared" and isinstance(SHARED, Path)
