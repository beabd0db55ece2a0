"""Group commit (ADR 0015): messages that queue while a transaction commits go together in one.

Messages handed to the adapter in the same event-loop turn all queue before the committer runs, so
`asyncio.gather` of `process` calls makes a group deterministically; the MLLP tests check the same
rules with real senders, whatever the groups turn out to be.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI

from adapters.dpi.combine import Claims
from adapters.dpi.grouping import GroupQueue
from adapters.dpi.processor import Outcome
from adapters.dpi.service import DpiService, start
from adapters.dpi.settings import DpiSettings
from adapters.fhir_client import FhirClient
from bench.dpi_mllp import adt_messages, rde_messages
from tests.adapters.dpi.dpi_helpers import Ack, MllpClient, count, message, search, with_control_id
from tests.conftest import bearer

INS_SYSTEM = "urn:oid:1.2.250.1.999.1.1"


async def together(dpi: DpiService, raws: list[bytes]) -> list[Outcome]:
    return list(await asyncio.gather(*(dpi.process(raw, transport="mllp", peer="test") for raw in raws)))


@pytest.fixture
async def auditor(app: FastAPI, tokens: dict[str, str]) -> AsyncIterator[FhirClient]:
    async with FhirClient.for_app(app, headers=bearer(tokens["auditor"])) as client:
        yield client


async def transactions(auditor: FhirClient) -> int:
    """The FHIR transactions the server committed: it audits each one with one AuditEvent (subtype
    `batch`, the restful interaction of POST to the base)."""
    events = await search(auditor, "AuditEvent", _count="1000")
    return sum(1 for e in events if e["outcome"] == "0" and any(c.get("code") == "batch" for c in e["subtype"]))


def ack_of(outcome: Outcome) -> Ack:
    return Ack.parse(outcome.ack)


async def patient(fhir: FhirClient, ipp: str) -> dict:
    found = await search(fhir, "Patient", identifier=f"{INS_SYSTEM}|{ipp}")
    assert len(found) == 1, ipp
    return found[0]


async def test_queued_messages_commit_in_one_transaction_each_with_its_own_ack(
        dpi: DpiService, fhir: FhirClient, auditor: FhirClient,
) -> None:
    raws = adt_messages(6, start=100)
    outcomes = await together(dpi, raws)
    assert [o.code for o in outcomes] == ["AA"] * 6
    assert [ack_of(o).control_id for o in outcomes] == [f"A01-{n:08d}" for n in range(100, 106)]
    assert await transactions(auditor) == 1
    assert await count(fhir, "Patient") == 6
    assert await count(fhir, "Encounter") == 6
    for n, outcome in zip(range(100, 106), outcomes, strict=True):
        found = await patient(fhir, f"{n:07d}")
        assert f"Patient/{found['id']}/_history/1" in outcome.resources
    entries = dpi.journal.recent(10)
    assert sorted(e.control_id for e in entries) == [f"A01-{n:08d}" for n in range(100, 106)]
    assert {(e.status, e.ack_code) for e in entries} == {("accepted", "AA")}
    assert all(len(e.resources) == 3 for e in entries)  # Patient, Encounter, Provenance


async def test_one_message_the_server_refuses_does_not_fail_its_group(dpi: DpiService, fhir: FhirClient) -> None:
    raws = adt_messages(2, start=200) + [message("rde_o11_ca_unknown_order.hl7")] + adt_messages(2, start=202)
    outcomes = await together(dpi, raws)
    assert [o.code for o in outcomes] == ["AA", "AA", "AE", "AA", "AA"]
    refused = ack_of(outcomes[2])
    assert (refused.control_id, refused.error_locations(), refused.error_codes()) == ("RDE-CA-X", ["ORC^1^2"],
                                                                                      ["204"])
    assert await count(fhir, "Patient") == 4
    assert await count(fhir, "MedicationRequest") == 0
    statuses = {e.control_id: e.status for e in dpi.journal.recent(10)}
    assert statuses.pop("RDE-CA-X") == "error"
    assert set(statuses.values()) == {"accepted"}


async def test_content_errors_found_when_mapping_are_answered_within_the_group(
        dpi: DpiService, fhir: FhirClient, auditor: FhirClient,
) -> None:
    raws = [*adt_messages(2, start=300), message("adt_a01_bad_birthdate.hl7"), message("oru_r01_unsupported.hl7")]
    outcomes = await together(dpi, raws)
    assert [o.code for o in outcomes] == ["AA", "AA", "AE", "AR"]
    assert ack_of(outcomes[2]).error_locations() == ["PID^1^7"]
    assert await transactions(auditor) == 1
    assert {e.control_id: e.status for e in dpi.journal.recent(10)} == {
        "A01-00000300": "accepted", "A01-00000301": "accepted", "A01-BAD1": "error", "ORU-0001": "rejected"}


async def test_messages_for_one_patient_commit_in_arrival_order(
        dpi: DpiService, fhir: FhirClient, auditor: FhirClient,
) -> None:
    """An admission then an update of the same patient, queued together with others: the update is
    not in the admission's transaction, it commits after it and its name wins."""
    admission = message("adt_a01_pamfr_ins.hl7").replace(b"0012345^^^", b"0067890^^^")
    update = message("adt_a08_update.hl7")
    outcomes = await together(dpi, [admission, *adt_messages(2, start=400), update])
    assert [o.code for o in outcomes] == ["AA"] * 4
    assert await transactions(auditor) == 2
    stored = await patient(fhir, "0067890")
    assert stored["meta"]["versionId"] == "2"
    assert stored["name"][0]["family"] == "LEFÈVRE"


async def test_two_copies_in_one_burst_leave_the_data_of_one(dpi: DpiService, fhir: FhirClient) -> None:
    raw = adt_messages(1, start=500)[0]
    outcomes = await together(dpi, [raw, *adt_messages(1, start=501), raw, with_control_id(raw, "RESENT-1")])
    assert [o.code for o in outcomes] == ["AA"] * 4
    assert await count(fhir, "Patient") == 2
    assert await count(fhir, "Encounter") == 2
    assert await count(fhir, "Provenance") == 2
    assert (await patient(fhir, "0000500"))["meta"]["versionId"] == "1"
    written = [[r for r in o.resources if not r.startswith("Provenance/")] for o in outcomes]
    assert written[0] == written[2] == written[3]
    assert len(written[0]) == 2


async def test_a_new_prescriber_and_drugs_named_by_a_whole_group_are_written_once(
        dpi: DpiService, fhir: FhirClient, auditor: FhirClient,
) -> None:
    outcomes = await together(dpi, rde_messages(4, start=600))
    assert [o.code for o in outcomes] == ["AA"] * 4
    assert await transactions(auditor) == 1
    assert await count(fhir, "Practitioner") == 1
    assert await count(fhir, "Medication") == 3
    assert await count(fhir, "MedicationRequest") == 12
    practitioner = (await search(fhir, "Practitioner"))[0]
    requests = await search(fhir, "MedicationRequest", _count="100")
    assert {r["requester"]["reference"] for r in requests} == {f"Practitioner/{practitioner['id']}"}
    # Every message's journal entry names the prescriber it references, as it would alone.
    assert all(f"Practitioner/{practitioner['id']}/_history/1" in o.resources for o in outcomes)


async def test_merge_commits_alone_after_what_came_before(dpi: DpiService, fhir: FhirClient) -> None:
    """The merge reads the database: it must see the admission queued before it, and the admission
    must not overwrite the merge (the survivor keeps its `replaces` link)."""
    assert (await dpi.process(message("adt_a28_duplicate.hl7"))).code == "AA"
    raws = [message("adt_a01_pamfr_ins.hl7"), message("adt_a40_merge.hl7"), *adt_messages(1, start=700)]
    outcomes = await together(dpi, raws)
    assert [o.code for o in outcomes] == ["AA"] * 3
    old, survivor = await patient(fhir, "0099999"), await patient(fhir, "0012345")
    assert old["active"] is False
    assert old["link"] == [{"other": {"reference": f"Patient/{survivor['id']}"}, "type": "replaced-by"}]
    assert survivor["link"] == [{"other": {"reference": f"Patient/{old['id']}"}, "type": "replaces"}]


async def test_mllp_senders_in_parallel_get_their_own_acks(
        dpi: DpiService, fhir: FhirClient, auditor: FhirClient,
) -> None:
    """Real connections: groups form as they may; every message is answered on its own connection."""
    raws = adt_messages(40, start=800)

    async def sender(share: list[bytes]) -> list[str]:
        client = await MllpClient.connect(dpi.mllp_port)
        try:
            return [(await client.send(raw)).control_id for raw in share]
        finally:
            await client.close()

    shares = [raws[i::4] for i in range(4)]
    answered = await asyncio.gather(*(sender(share) for share in shares))
    for share, control_ids in zip(shares, answered, strict=True):
        assert control_ids == [raw.split(b"|")[9].decode() for raw in share]
    assert await count(fhir, "Patient") == 40
    assert await transactions(auditor) < 40


async def test_group_size_one_is_a_transaction_per_message(
        fhir: FhirClient, dpi_settings: DpiSettings, auditor: FhirClient,
) -> None:
    """ONCOLINK_DPI_GROUP_MAX_MESSAGES=1: one transaction per message, as before group commit."""
    service = await start(dpi_settings.model_copy(update={"dpi_group_max_messages": 1}), fhir, listen=False)
    try:
        outcomes = await together(service, adt_messages(3, start=900))
    finally:
        await service.stop()
    assert [o.code for o in outcomes] == ["AA"] * 3
    assert await transactions(auditor) == 3


# -- the queue alone ---------------------------------------------------------------------------------


@dataclass(eq=False)
class Item:
    name: str
    claims: Claims = field(default_factory=dict)
    solo: bool = False


def queue(max_size: int = 10, max_wait: float = 0) -> tuple[GroupQueue[Item, str], list[list[str]]]:
    groups: list[list[str]] = []

    async def commit(items: list[Item]) -> list[str]:
        groups.append([i.name for i in items])
        await asyncio.sleep(0)
        return [i.name for i in items]

    return GroupQueue(commit, max_size=max_size, max_wait=max_wait), groups


async def test_queue_defers_clashes_and_what_follows_them_on_the_same_key() -> None:
    q, groups = queue()
    items = [
        Item("a1", {"patient:A": None}),
        Item("b1", {"patient:B": None}),
        Item("a2", {"patient:A": None}),          # same patient as a1: next group
        Item("c1", {"patient:C": None, "Practitioner?x": "v1"}),
        Item("d1", {"patient:D": None, "Practitioner?x": "v1"}),  # same shared content: may join
        Item("e1", {"patient:E": None, "Practitioner?x": "v2"}),  # other content: next group
        Item("f1", {"patient:F": None, "Practitioner?x": "v1"}),  # after e1 on that key: waits too
        Item("a3", {"patient:A": None, "patient:G": None}),       # after a2: waits
        Item("g1", {"patient:G": None}),                          # after a3 on G: waits
    ]
    results = await asyncio.gather(*(q.submit(i) for i in items))
    assert results == [i.name for i in items]
    assert groups[0] == ["a1", "b1", "c1", "d1"]
    assert groups[1] == ["a2", "e1"]
    assert groups[2] == ["f1", "a3"]
    assert groups[3] == ["g1"]


async def test_queue_commits_solo_messages_alone_in_order_and_caps_groups() -> None:
    q, groups = queue(max_size=2)
    items = [Item("x1"), Item("x2"), Item("x3"), Item("merge", solo=True), Item("x4")]
    await asyncio.gather(*(q.submit(i) for i in items))
    assert groups == [["x1", "x2"], ["x3"], ["merge"], ["x4"]]


async def test_queue_a_lone_sender_never_waits() -> None:
    q, groups = queue(max_wait=3600)
    for name in ("one", "two", "three"):
        assert await asyncio.wait_for(q.submit(Item(name)), 30) == name
    assert groups == [["one"], ["two"], ["three"]]


async def test_queue_after_a_group_of_n_waits_for_n_senders() -> None:
    """The senders a group answered send again: the next group waits for as many (up to max_wait)."""
    q, groups = queue(max_wait=3600)
    await asyncio.gather(*(q.submit(Item(name)) for name in ("a", "b", "c")))
    first = q.submit(Item("d"))
    await asyncio.sleep(0.01)  # the committer is waiting for two more
    rest = [q.submit(Item("e")), q.submit(Item("f"))]
    assert await asyncio.gather(first, *rest) == ["d", "e", "f"]
    assert groups == [["a", "b", "c"], ["d", "e", "f"]]


async def test_queue_a_sender_that_went_away_costs_one_max_wait() -> None:
    q, groups = queue(max_wait=0.05)
    await asyncio.gather(*(q.submit(Item(name)) for name in ("a", "b")))
    assert await q.submit(Item("c")) == "c"
    assert await q.submit(Item("d")) == "d"
    assert groups == [["a", "b"], ["c"], ["d"]]
