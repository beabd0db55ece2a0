"""MSSanté adapter (issue 8): compose time of a full message, and delivery rate over one TLS connection.

Compose: the IG's pathway example (capecitabine, parcours A, sequence 1) to one recipient: bodies from
the templates, CDA R2, METADATA.XML, IHE_XDM.ZIP, FHIR JSON, MIME. Baseline in the same run: the stdlib
MIME message with the same two bodies and no attachment.
Send: N composed messages in the outbox (SQLite file or PostgreSQL schema), delivered by the worker's
delivery step (claim in the outbox, MAIL/RCPT/DATA, state written back per message) to an aiosmtpd relay
on loopback that requires STARTTLS and checks our client certificate; one TLS connection for all.
Baseline: the same bytes sent with bare aiosmtplib over one such connection, no outbox.
Targets: compose ≤ 20 ms; ≥ 50 messages/s.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import aiosmtplib
import sqlalchemy as sa

from adapters.fhir_client import FhirClient
from adapters.mssante.compose import Composer, Mappings, message_id
from adapters.mssante.directory import Directory
from adapters.mssante.settings import DEFAULT_MAPPINGS, MssanteSettings
from adapters.mssante.smtp import SmtpTransport, tls_context
from adapters.mssante.store import NEW, Store, outbox_table
from adapters.mssante.worker import PassReport, Worker
from tests.adapters.mssante.helpers import PHARMACY_ADDRESS, example_snapshot
from tests.adapters.mssante.pki import make_pki
from tests.adapters.mssante.relay import RelayServer

from .common import machine, percentile, record, targets

SECTION = "MSSanté adapter (issue 8)"
COMPOSE_ROUNDS = int(os.environ.get("MSSANTE_BENCH_COMPOSE", "300"))
MESSAGES = int(os.environ.get("MSSANTE_BENCH_MESSAGES", "500"))
SENDER = "oncologie@ch-lyon.mssante.fr"


def composer() -> Composer:
    return Composer(Mappings.load(DEFAULT_MAPPINGS), sender=SENDER, sender_name="Onco'Link CH Lyon",
                    notification_to=SENDER, source_oid="1.2.250.1.999.8.1")


def bench_compose() -> tuple[list[float], list[float], int]:
    c = composer()
    snapshot = example_snapshot()
    ref = "Organization/org-pharmacie-lilas"

    def one(index: int) -> bytes:
        return c.compose(snapshot, recipient_ref=ref, recipient_name="Pharmacie des Lilas", address=PHARMACY_ADDRESS,
                         message_id=message_id(f"bench-{index}", ref, SENDER)).raw

    def baseline() -> bytes:
        message = EmailMessage(policy=SMTP)
        message["From"], message["To"], message["Subject"] = SENDER, PHARMACY_ADDRESS, "Onco'Link"
        message.set_content("Bonjour,\n" * 60, charset="utf-8", cte="quoted-printable")
        message.add_alternative("<p>Bonjour</p>\n" * 60, subtype="html", charset="utf-8", cte="quoted-printable")
        return message.as_bytes()

    for index in range(20):
        one(index)
        baseline()
    ours, base = [], []
    size = 0
    for index in range(COMPOSE_ROUNDS):
        start = time.perf_counter()
        size = len(one(index))
        ours.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        baseline()
        base.append((time.perf_counter() - start) * 1000)
    return ours, base, size


def fill_outbox(store: Store, raws: list[bytes]) -> None:
    stamp = datetime.now(UTC)
    rows = [{"trigger_key": f"bench-{i}", "recipient_ref": "Organization/org-pharmacie-lilas",
             "message_id": f"<bench-{i}-{stamp.timestamp()}@ch-lyon.mssante.fr>", "status": "ready",
             "address": PHARMACY_ADDRESS, "recipient_name": "Pharmacie des Lilas", "subject": "bench", "raw": raw,
             "details": {}, "attempts": 0, "next_attempt_at": stamp, "created_at": stamp, "updated_at": stamp}
            for i, raw in enumerate(raws)]
    with store.engine.begin() as conn:
        conn.execute(sa.insert(outbox_table), rows)
    assert NEW  # the rows skip composing: they are ready


async def bench_send(url: str, settings: MssanteSettings, raws: list[bytes]) -> tuple[float, float]:
    store = Store(url)
    store.upgrade()
    fill_outbox(store, raws)
    client = FhirClient.for_url("http://127.0.0.1:9/fhir")  # delivery needs no FHIR call
    directory = Directory(base_url="", store=store)
    worker = Worker(settings.model_copy(update={"mssante_batch_size": len(raws)}), client, store, directory,
                    composer(), SmtpTransport(settings))
    report = PassReport()
    start = time.perf_counter()
    await worker.deliver_due(report)
    ours = time.perf_counter() - start
    assert report.sent == len(raws), report

    smtp = aiosmtplib.SMTP(hostname=settings.mssante_smtp_host, port=settings.mssante_smtp_port, start_tls=True,
                           tls_context=tls_context(settings), local_hostname="oncolink.bench")
    start = time.perf_counter()
    await smtp.connect()
    for raw in raws:
        await smtp.sendmail(SENDER, [PHARMACY_ADDRESS], raw)
    await smtp.quit()
    baseline = time.perf_counter() - start
    await client.aclose()
    await directory.aclose()
    store.dispose()
    return len(raws) / ours, len(raws) / baseline


def main() -> None:
    ours, base, size = bench_compose()
    compose_p50, compose_p95 = statistics.median(ours), percentile(ours, 95)
    print(f"compose: p50 {compose_p50:.2f} ms, p95 {compose_p95:.2f} ms ({size} bytes); "
          f"baseline MIME p50 {statistics.median(base):.2f} ms")
    c = composer()
    snapshot = example_snapshot()
    raws = [c.compose(snapshot, recipient_ref="Organization/org-pharmacie-lilas", recipient_name="Pharmacie",
                      address=PHARMACY_ADDRESS, message_id=message_id(f"send-{i}", "x", SENDER)).raw
            for i in range(MESSAGES)]
    work = Path(tempfile.mkdtemp(prefix="mssante-bench-"))
    pki = make_pki(work / "pki")
    relay = RelayServer(pki).start()
    rows = []
    try:
        settings = MssanteSettings(mssante_smtp_host="127.0.0.1", mssante_smtp_port=relay.port,
                                   mssante_client_cert=pki.client_cert, mssante_client_key=pki.client_key,
                                   mssante_ca_file=pki.ca, mssante_sender=SENDER)
        with targets(work) as dbs:
            for target in dbs:
                rate, baseline = asyncio.run(bench_send(target.url, settings, raws))
                print(f"send ({target.name}): {rate:.0f} msg/s; bare aiosmtplib {baseline:.0f} msg/s")
                rows.append((target.name, rate, baseline))
        sessions = relay.relay.sessions
    finally:
        relay.stop()
    received = len(relay.relay.messages)
    table = "\n".join(f"| {name} | {MESSAGES} | {rate:.0f} msg/s | {baseline:.0f} msg/s | {rate / baseline:.0%} |"
                      for name, rate, baseline in rows)
    record(SECTION, f"""
Machine: {machine()}. `python -m bench.mssante_bench`.

Compose one full message (IG pathway example, community pharmacy): French plain + HTML bodies (Jinja2),
CDA R2 care plan, METADATA.XML (hash and size of the CDA), README.TXT, INDEX.HTM, IHE_XDM.ZIP, FHIR JSON,
MIME serialisation; {COMPOSE_ROUNDS} rounds after warm-up. Baseline in the same run: the stdlib MIME
message with two bodies of similar size and no attachment. Target ≤ 20 ms.

| message size | compose p50 | compose p95 | baseline MIME p50 |
|---|---|---|---|
| {size:,} bytes | {compose_p50:.2f} ms | {compose_p95:.2f} ms | {statistics.median(base):.2f} ms |

Delivery of {MESSAGES} composed messages from the outbox by the worker's delivery step (outbox claim,
MAIL/RCPT/DATA, state written per message) to an aiosmtpd relay on loopback requiring STARTTLS and a
client certificate signed by the test CA, over one TLS connection. Baseline: the same bytes with bare
aiosmtplib `sendmail` over one such connection, no outbox. Target ≥ 50 messages/s.
Relay: {received} messages received in {sessions} TLS sessions.

| database | messages | outbox → relay | bare aiosmtplib | ratio |
|---|---|---|---|---|
{table}
""")


if __name__ == "__main__":
    main()
