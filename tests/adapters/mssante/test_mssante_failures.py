"""What goes wrong on the way, against the real TLS relay: refused certificate, 4xx then success, 5xx,
a relay that vanishes mid-session or after taking the data, two workers at once, a worker that died.
Each time: nothing is lost (every message ends sent, or visibly failed/uncertain) and nothing is sent twice."""

from __future__ import annotations

import asyncio

import respx
import sqlalchemy as sa

from adapters.fhir_client import FhirClient
from adapters.mssante import store as S
from adapters.mssante.service import start
from adapters.mssante.settings import MssanteSettings
from adapters.mssante.store import Store
from adapters.mssante.worker import PassReport

from .helpers import GP_ADDRESS, PHARMACY_ADDRESS, seed, trigger
from .pki import Pki
from .relay import RelayServer
from .test_mssante_delivery import children, directory_routes, run_pass


def time_passes(settings: MssanteSettings) -> None:
    """Every waiting message becomes due, as if the backoff delay had elapsed."""
    store = Store(settings.store_url)
    try:
        with store.engine.begin() as conn:
            conn.execute(sa.update(S.outbox_table).values(next_attempt_at=S.now()))
    finally:
        store.dispose()


def statuses(settings: MssanteSettings) -> dict[str, str]:
    store = Store(settings.store_url)
    try:
        return {row.address or row.recipient_ref: row.status for row in store.recent(100)}
    finally:
        store.dispose()


async def test_refused_client_certificate_keeps_messages_until_the_right_one_is_used(
        fhir: FhirClient, mss_settings: MssanteSettings, relay_server: RelayServer, pki: Pki) -> None:
    await seed(fhir)
    await fhir.update("Communication", "trig-cert", trigger("cert"))
    rogue = mss_settings.model_copy(update={"mssante_client_cert": pki.rogue_cert,
                                            "mssante_client_key": pki.rogue_key})
    with respx.mock(assert_all_called=False) as mock:
        directory_routes(mock)
        refused = await run_pass(rogue, fhir)
        assert refused.sent == 0 and relay_server.relay.messages == []
        assert any("TLS" in e or "connexion" in e for e in refused.errors), refused.errors
        assert set(statuses(mss_settings).values()) == {S.READY}  # waiting, not charged, not lost
        store = Store(mss_settings.store_url)
        assert all(r.attempts == 0 and r.last_error for r in store.recent(10))
        store.dispose()
        fixed = await run_pass(mss_settings, fhir)
    assert fixed.sent == 2
    assert len(relay_server.relay.to(PHARMACY_ADDRESS)) == 1 and len(relay_server.relay.to(GP_ADDRESS)) == 1
    assert (await fhir.read("Communication", "trig-cert"))["status"] == "completed"


async def test_temporary_refusal_then_success(fhir: FhirClient, mss_settings: MssanteSettings,
                                              relay_server: RelayServer) -> None:
    await seed(fhir)
    relay_server.relay.rcpt_replies[PHARMACY_ADDRESS] = ["451 4.3.0 Boîte momentanément indisponible"]
    await fhir.update("Communication", "trig-4xx", trigger("4xx"))
    slow = mss_settings.model_copy(update={"mssante_backoff_seconds": 600})
    with respx.mock(assert_all_called=False) as mock:
        directory_routes(mock)
        first = await run_pass(slow, fhir)
        assert (first.sent, first.retried) == (1, 1)
        pending = [c for c in await children(fhir, "trig-4xx") if c["status"] == "in-progress"]
        assert len(pending) == 1 and "451" in pending[0]["statusReason"]["text"]
        assert (await fhir.read("Communication", "trig-4xx"))["status"] == "in-progress"
        assert (await run_pass(slow, fhir)).sent == 0  # not before its time
        time_passes(slow)
        second = await run_pass(slow, fhir)
        third = await run_pass(slow, fhir)
    assert (second.sent, third.sent) == (1, 0)
    assert len(relay_server.relay.to(PHARMACY_ADDRESS)) == 1 and len(relay_server.relay.to(GP_ADDRESS)) == 1
    messages = await children(fhir, "trig-4xx")
    assert sorted(m["status"] for m in messages) == ["completed", "completed"]
    pharmacy = next(m for m in messages if PHARMACY_ADDRESS in m["recipient"][0]["display"])
    assert any(n["text"] == "Tentatives : 2" for n in pharmacy["note"])
    assert (await fhir.read("Communication", "trig-4xx"))["status"] == "completed"


async def test_permanent_refusal_is_not_retried_and_shows_in_fhir(fhir: FhirClient, mss_settings: MssanteSettings,
                                                                  relay_server: RelayServer) -> None:
    await seed(fhir)
    relay_server.relay.rcpt_replies[GP_ADDRESS] = ["550 5.1.1 Destinataire inconnu"]
    await fhir.update("Communication", "trig-5xx", trigger("5xx"))
    with respx.mock(assert_all_called=False) as mock:
        directory_routes(mock)
        first = await run_pass(mss_settings, fhir)
        second = await run_pass(mss_settings, fhir)
    assert (first.sent, first.failed, second.sent, second.failed) == (1, 1, 0, 0)
    assert relay_server.relay.to(GP_ADDRESS) == [] and len(relay_server.relay.to(PHARMACY_ADDRESS)) == 1
    assert statuses(mss_settings)[GP_ADDRESS] == S.FAILED
    gp = next(m for m in await children(fhir, "trig-5xx") if GP_ADDRESS in m["recipient"][0]["display"])
    assert gp["status"] == "entered-in-error" and "550 5.1.1" in gp["statusReason"]["text"]
    parent = await fhir.read("Communication", "trig-5xx")
    assert parent["status"] == "entered-in-error"
    assert parent["statusReason"]["text"] == "1 message(s) sur 2 non remis"
    assert any("échec" in n["text"] for n in parent["note"])


async def test_relay_vanishing_mid_session_loses_nothing_and_sends_nothing_twice(
        fhir: FhirClient, mss_settings: MssanteSettings, relay_server: RelayServer) -> None:
    await seed(fhir)
    relay = relay_server.relay
    relay.vanish_on_rcpt.add(GP_ADDRESS)  # the connection drops while the second message is offered
    await fhir.update("Communication", "trig-vanish", trigger("vanish"))
    await fhir.update("Communication", "trig-vanish-2", trigger("vanish-2", "sequence-end"))
    with respx.mock(assert_all_called=False) as mock:
        directory_routes(mock)
        first = await run_pass(mss_settings, fhir)
        assert first.sent >= 1 and first.retried >= 1
        relay_server.stop()  # and then the relay disappears altogether
        down = await run_pass(mss_settings, fhir)
        assert down.sent == 0
        assert S.SENDING not in statuses(mss_settings).values()
        relay_server.start()  # back on the same port
        await run_pass(mss_settings, fhir)
        await run_pass(mss_settings, fhir)
    for address in (PHARMACY_ADDRESS, GP_ADDRESS):
        assert len(relay.to(address)) == 2, address  # one per trigger, exactly
    assert set(statuses(mss_settings).values()) == {S.SENT}
    for comm in ("trig-vanish", "trig-vanish-2"):
        assert (await fhir.read("Communication", comm))["status"] == "completed"


async def test_connection_lost_after_the_data_is_uncertain_and_never_resent(
        fhir: FhirClient, mss_settings: MssanteSettings, relay_server: RelayServer) -> None:
    await seed(fhir)
    relay_server.relay.vanish_after_data.add(GP_ADDRESS)  # the relay keeps the message but never answers
    await fhir.update("Communication", "trig-unknown", trigger("unknown"))
    with respx.mock(assert_all_called=False) as mock:
        directory_routes(mock)
        first = await run_pass(mss_settings, fhir)
        second = await run_pass(mss_settings, fhir)
    assert first.unknown == 1 and second.sent == 0
    assert len(relay_server.relay.to(GP_ADDRESS)) == 1  # delivered once, and only once
    assert statuses(mss_settings)[GP_ADDRESS] == S.UNKNOWN
    gp = next(m for m in await children(fhir, "trig-unknown") if GP_ADDRESS in m["recipient"][0]["display"])
    assert gp["status"] == "unknown" and "incertaine" in gp["statusReason"]["text"]


async def test_two_workers_at_once_send_each_message_once(fhir: FhirClient, mss_settings: MssanteSettings,
                                                          relay_server: RelayServer) -> None:
    await seed(fhir)
    for index in range(4):
        await fhir.update("Communication", f"trig-pair-{index}", trigger(f"pair-{index}"))
    with respx.mock(assert_all_called=False) as mock:
        directory_routes(mock)
        one = await start(mss_settings, fhir, loop=False)
        two = await start(mss_settings, fhir, loop=False)
        try:
            reports = await asyncio.gather(one.run_once(), two.run_once())
            await one.run_once()
        finally:
            await one.stop()
            await two.stop()
    assert sum(r.taken_in for r in reports) == 4
    assert sum(r.sent for r in reports) == 8
    assert len(relay_server.relay.to(PHARMACY_ADDRESS)) == 4 and len(relay_server.relay.to(GP_ADDRESS)) == 4
    ids = [m.data.split(b"Message-ID:")[1][:80] for m in relay_server.relay.messages]
    assert len(set(ids)) == 8


async def test_a_worker_that_died_is_taken_over(fhir: FhirClient, mss_settings: MssanteSettings,
                                                relay_server: RelayServer) -> None:
    await seed(fhir)
    # Died after claiming the trigger (in-progress, nothing stored)…
    claimed = trigger("orphan")
    claimed["status"] = "in-progress"
    await fhir.update("Communication", "trig-orphan", claimed)
    # …and another died in the middle of an SMTP session (message left "sending").
    only_pharmacy = trigger("midsend", recipients=["Organization/org-pharmacie-lilas"])
    await fhir.update("Communication", "trig-midsend", only_pharmacy)
    settings = mss_settings.model_copy(update={"mssante_claim_lease_seconds": 0.001,
                                               "mssante_sending_lease_seconds": 0.001})
    with respx.mock(assert_all_called=False) as mock:
        directory_routes(mock)
        service = await start(settings, fhir, loop=False)
        try:
            await service.worker.intake(PassReport())
            await service.worker.compose_due(PassReport())
            stuck = service.store.claim("dead-worker", 100)
            stuck = [r for r in stuck if r.trigger_key.endswith("|midsend")]
            for row in service.store.recent(100):
                if row.status == S.SENDING and row.trigger_key.endswith("|orphan"):
                    service.store.retry(row.id, "", S.now(), attempted=False)
            await asyncio.sleep(0.01)
            report = await service.run_once()
        finally:
            await service.stop()
    assert len(stuck) == 1
    assert len(relay_server.relay.to(PHARMACY_ADDRESS)) == 1  # the orphan's; the mid-send one is not resent
    assert report.unknown == 1
    assert (await fhir.read("Communication", "trig-orphan"))["status"] == "completed"
    assert (await fhir.read("Communication", "trig-midsend"))["status"] == "entered-in-error"
