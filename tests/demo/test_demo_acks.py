"""The demo's MLLP sender against the real listener and processor: AA counts, and an AE or AR is reported
with the message, the control id and where the listener says the error is."""

from __future__ import annotations

from datetime import UTC, date, datetime

from adapters.dpi.service import DpiService
from fhir_server.demo.cli import prepare
from fhir_server.demo.driver import Hl7Link, Report
from fhir_server.demo.hl7 import admission
from fhir_server.settings import Settings


async def test_acks_are_checked_and_errors_reported(dpi: DpiService) -> None:
    ready = prepare(Settings(), seed=5, count=1, today=date(2026, 3, 2))
    [patient] = ready.patients
    good = admission(patient, ready.data.hospital, datetime(2026, 2, 27, 9, 30, tzinfo=UTC), "DEMO-ACK-1")
    birth = patient.birth.strftime("%Y%m%d").encode()
    bad_birth = good.replace(b"DEMO-ACK-1", b"DEMO-ACK-2").replace(b"|" + birth + b"|", b"|19791332|")
    unsupported = good.replace(b"DEMO-ACK-1", b"DEMO-ACK-3").replace(b"ADT^A04^ADT_A01", b"ADT^A02^ADT_A02")
    report = Report()
    link = Hl7Link("127.0.0.1", dpi.mllp_port, report, 30)
    await link.open()
    try:
        assert await link.send(good, "ADT^A04") is True
        assert await link.send(bad_birth, "ADT^A04") is False
        assert await link.send(unsupported, "ADT^A04") is False
    finally:
        await link.close()
    assert report.acks == {"AA": 1, "AE": 1, "AR": 1} and report.hl7_messages == 3
    first, second = report.problems
    where = "ADT^A04 DEMO-ACK-2: ACK AE PID^1^7: "
    assert first.startswith(where) and len(first) > len(where)  # ERR-8, the listener's sentence, follows
    assert second.startswith("ADT^A04 DEMO-ACK-3: ACK AR MSH^1^9^^2: ")
