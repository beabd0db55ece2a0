"""AE and AR answers: exact codes and ERR positions, journal states, replay after a fix."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from adapters.dpi.journal import Journal
from adapters.dpi.service import DpiService
from adapters.fhir_client import FhirClient
from tests.adapters.dpi.dpi_helpers import Ack, MllpClient, count, message
from tests.conftest import bearer


async def send(dpi: DpiService, raw: bytes) -> Ack:
    client = await MllpClient.connect(dpi.mllp_port)
    try:
        return await client.send(raw)
    finally:
        await client.close()


@pytest.mark.parametrize(("name", "code", "location", "error", "control_id"), [
    ("oru_r01_unsupported.hl7", "AR", "MSH^1^9", "200", "ORU-0001"),
    ("adt_a02_unsupported_event.hl7", "AR", "MSH^1^9^^2", "201", "A02-0001"),
    ("wrong_encoding_characters.hl7", "AR", "MSH^1^2", "102", "ENC-0001"),
    ("charset_mismatch.hl7", "AR", "MSH^1^18", "102", "CS-0001"),
    ("adt_a01_bad_birthdate.hl7", "AE", "PID^1^7", "102", "A01-BAD1"),
    ("rde_o11_missing_orc2.hl7", "AE", "ORC^1^2", "101", "RDE-BAD1"),
])
async def test_refused_messages_name_the_field(dpi: DpiService, fhir: FhirClient, name: str, code: str,
                                               location: str, error: str, control_id: str) -> None:
    ack = await send(dpi, message(name))
    assert ack.code == code
    assert ack.control_id == control_id
    assert ack.error_locations() == [location]
    assert ack.error_codes() == [error]
    assert ack.errors[0][4] == "E"
    assert ack.errors[0][8]  # ERR-8: a sentence for the people who fix it
    assert await count(fhir, "Patient") == 0
    entry = dpi.journal.recent(1)[0]
    assert entry.status == ("rejected" if code == "AR" else "error")
    assert entry.raw == message(name)
    assert entry.error


async def test_pre_v25_senders_get_err1(dpi: DpiService) -> None:
    raw = message("adt_a01_bad_birthdate.hl7").replace(b"|P|2.5^FRA^2.11|", b"|P|2.3.1|")
    ack = await send(dpi, raw)
    assert ack.code == "AE"
    assert ack.errors[0][1].startswith("PID^1^7^102&")


async def test_unsupported_version_is_ar(dpi: DpiService) -> None:
    raw = message("adt_a28_add_person.hl7").replace(b"|P|2.5^FRA^2.11|", b"|P|3.0|")
    ack = await send(dpi, raw)
    assert (ack.code, ack.error_locations(), ack.error_codes()) == ("AR", ["MSH^1^12"], ["203"])


async def test_not_hl7_at_all_is_ar(dpi: DpiService) -> None:
    ack = await send(dpi, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert ack.code == "AR"
    assert ack.error_codes() == ["100"]


async def test_an_error_then_the_fixed_order_then_replay_of_the_dead_letter(dpi: DpiService, fhir: FhirClient
                                                                           ) -> None:
    """A cancellation that arrives before its order is dead-lettered; once the order exists, replay applies it."""
    cancel = message("rde_o11_ca.hl7")
    assert (await send(dpi, cancel)).code == "AE"
    dead = dpi.journal.dead_ids()
    assert len(dead) == 1
    assert (await send(dpi, message("rde_o11_three_orders.hl7"))).code == "AA"
    entry = dpi.journal.get(dead[0])
    assert entry is not None
    outcome = await dpi.processor.replay(entry)
    assert outcome.code == "AA"
    assert dpi.journal.dead_ids() == []
    replayed = dpi.journal.get(dead[0])
    assert replayed is not None and replayed.status == "accepted" and replayed.attempts == 2
    statuses = {r["identifier"][0]["value"]: r["status"] for r in
                [r async for r in fhir.search_all("MedicationRequest", {})]}
    assert statuses == {"CMD-1001": "active", "CMD-1002": "cancelled", "CMD-1003": "active"}


async def test_server_unreachable_is_ae_and_failed(dpi_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A FHIR server that does not answer: AE 207, the message kept as failed for replay."""
    from adapters.dpi.service import start
    from tests.live_server import free_port

    settings = dpi_settings.model_copy(update={"dpi_retries": 0})
    client = FhirClient.for_url(f"http://127.0.0.1:{free_port()}/fhir", timeout=2)
    service = await start(settings, client)
    try:
        ack = await send(service, message("adt_a28_add_person.hl7"))
        assert (ack.code, ack.error_codes()) == ("AE", ["207"])
        assert service.journal.recent(1)[0].status == "failed"
    finally:
        await service.stop()
        await client.aclose()
    journal = Journal(settings.journal_url)
    assert journal.dead_ids() != []
    journal.dispose()


async def test_a_refused_message_is_audited(dpi: DpiService, app: FastAPI, tokens: dict[str, str]) -> None:
    """It wrote nothing, so the adapter records it: message, sender, transport, ACK code and reason."""
    assert (await send(dpi, message("adt_a01_bad_birthdate.hl7"))).code == "AE"
    async with FhirClient.for_app(app, headers=bearer(tokens["auditor"])) as auditor:
        found = await auditor.search("AuditEvent", {"type": "110107"})
    [event] = [e["resource"] for e in found.get("entry", [])]
    assert event["outcome"] == "4" and "PID" in event["outcomeDesc"]
    assert event["entity"][0]["what"]["identifier"]["value"] == "A01-BAD1"
    assert event["entity"][0]["name"] == "ADT^A01"
    assert {"type": "transport", "valueString": "mllp"} in event["entity"][0]["detail"]
