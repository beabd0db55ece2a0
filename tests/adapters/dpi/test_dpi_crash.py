"""A message acknowledged AA is never lost: kill -9 the server under load, restart, find every AA's data."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from adapters.dpi.journal import Journal
from adapters.dpi.mllp import END_BLOCK, frame
from bench.dpi_mllp import adt_messages
from fhir_server.security.dev_issuer import DevIssuer
from tests.adapters.dpi.conftest import _reset_journal
from tests.live_server import free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[3]


def _start(db_url: str, port: int, mllp: int, issuer: DevIssuer) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ONCOLINK_DATABASE_URL": db_url, "ONCOLINK_PORT": str(port), "ONCOLINK_MLLP_PORT": str(mllp),
           "ONCOLINK_LOG_LEVEL": "warning", **issuer.settings_env(), **issuer.client_env()}
    proc = subprocess.Popen([sys.executable, "-m", "fhir_server", "serve"], env=env, cwd=ROOT)
    wait_until_serving(proc, port)
    return proc


async def _sender(mllp: int, payloads: list[bytes], acked: list[bytes]) -> None:
    for _ in range(50):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", mllp)
            break
        except OSError:
            await asyncio.sleep(0.1)
    try:
        for payload in payloads:
            writer.write(frame(payload))
            await writer.drain()
            answer = await reader.readuntil(END_BLOCK + b"\r")
            if b"MSA|AA|" in answer:
                acked.append(payload)
    except (ConnectionError, asyncio.IncompleteReadError):
        return  # the server died under us: what was not acknowledged will be resent by the DPI


async def _load_then_kill(mllp: int, proc: subprocess.Popen[bytes], payloads: list[bytes]) -> list[bytes]:
    acked: list[bytes] = []
    senders = [asyncio.create_task(_sender(mllp, payloads[i::4], acked)) for i in range(4)]
    while len(acked) < 60:
        await asyncio.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    await asyncio.gather(*senders)
    return acked


def test_kill_minus_nine_loses_no_acknowledged_message(db_url: str, dev_issuer: DevIssuer,
                                                       admin_headers: dict[str, str]) -> None:
    _reset_journal(db_url)
    port, mllp = free_port(), free_port()
    payloads = adt_messages(2000, start=500)
    proc = _start(db_url, port, mllp, dev_issuer)
    try:
        acked = asyncio.run(_load_then_kill(mllp, proc, payloads))
        proc.wait(timeout=10)
        assert 60 <= len(acked) < len(payloads)
        proc = _start(db_url, port, mllp, dev_issuer)  # restart on the same database
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/fhir", timeout=30, headers=admin_headers) as http:
            for payload in acked:
                ipp = payload.split(b"PID|1||", 1)[1].split(b"^", 1)[0].decode()
                found = http.get("Patient", params={"identifier": f"urn:oid:1.2.250.1.999.1.1|{ipp}"}).json()
                assert found.get("total", len(found.get("entry", []))) == 1, ipp
                visit = f"VIS-{int(ipp):08d}"
                found = http.get("Encounter", params={"identifier": f"urn:oid:1.2.250.1.999.1.1|{visit}"}).json()
                assert len(found.get("entry", [])) == 1, visit
    finally:
        proc.kill()
        proc.wait(timeout=10)
    journal = Journal(db_url)
    accepted = {e.control_id for e in journal.recent(5000, "accepted")}
    journal.dispose()
    assert {p.split(b"|")[9].decode() for p in acked} <= accepted
