"""The DPI adapter's limits (ADR 0012) on real loopback sockets: message size over MLLP and HTTP, and
the number of MLLP connections. The adapter runs as `oncolink serve` wires it (see conftest)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from adapters.dpi.mllp import END_BLOCK, START_BLOCK, frame
from adapters.dpi.service import DpiService
from adapters.dpi.settings import DpiSettings
from tests.adapters.dpi.dpi_helpers import Ack, MllpClient, message, with_control_id

ER7 = "x-application/hl7-v2+er7"
MAX_CONNECTIONS = 2


@pytest.fixture
def dpi_settings(dpi_settings: DpiSettings) -> DpiSettings:
    return dpi_settings.model_copy(update={"mllp_max_connections": MAX_CONNECTIONS})


def _a28(control_id: str) -> bytes:
    return with_control_id(message("adt_a28_add_person.hl7"), control_id)


def _err_text(ack: Ack) -> str:
    return ack.errors[0][8]


# -- message size over MLLP -----------------------------------------------------------------------

async def test_an_oversized_message_gets_ar_naming_it_while_other_connections_are_served(
        dpi: DpiService, caplog: pytest.LogCaptureFixture) -> None:
    limit = dpi.settings.mllp_max_message_bytes
    assert dpi.mllp_port is not None
    big = _a28("BIG-1") + b"NTE|1||" + b"x" * limit + b"\r"
    sender = await MllpClient.connect(dpi.mllp_port)
    other = await MllpClient.connect(dpi.mllp_port)
    with caplog.at_level(logging.WARNING, logger="adapters.dpi.service"):
        # Half the oversized message is in (already over the limit), the rest not yet sent: meanwhile the
        # listener answers another sender.
        await sender.send_raw(START_BLOCK + big[: limit + 10])
        assert (await other.send(_a28("OTHER-1"))).code == "AA"
        await sender.send_raw(big[limit + 10:] + END_BLOCK + b"\r")
        refused = Ack.parse(await sender.read_ack())
    assert (refused.code, refused.control_id, refused.error_codes()) == ("AR", "BIG-1", ["207"])
    assert _err_text(refused) == f"message of {len(big)} bytes exceeds the limit of {limit} bytes"
    sender_port = sender.writer.get_extra_info("sockname")[1]
    assert [r.getMessage() for r in caplog.records] == [
        f"MLLP: 127.0.0.1:{sender_port} sent a message of {len(big)} bytes (limit {limit})"]
    # The same connection goes on; nothing of the big message was journaled.
    assert (await sender.send(_a28("AFTER-1"))).code == "AA"
    assert dpi.journal.count() == 2
    await sender.close()
    await other.close()


async def test_an_oversized_block_without_a_readable_msh_still_gets_ar(dpi: DpiService) -> None:
    """Nothing names the message: the AR has an empty MSA-2, and the sender knows which one it was from
    the order of answers on its connection."""
    limit = dpi.settings.mllp_max_message_bytes
    assert dpi.mllp_port is not None
    client = await MllpClient.connect(dpi.mllp_port)
    await client.send_raw(frame(b"X" * (limit + 1)))
    refused = Ack.parse(await client.read_ack())
    assert (refused.code, refused.control_id, refused.error_codes()) == ("AR", "", ["207"])
    assert _err_text(refused) == f"message of {limit + 1} bytes exceeds the limit of {limit} bytes"
    assert (await client.send(_a28("NEXT-1"))).code == "AA"
    await client.close()


# -- message size over HTTP -----------------------------------------------------------------------

@pytest.fixture
async def http(app: FastAPI, dpi: DpiService, tokens: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                 headers={"Authorization": f"Bearer {tokens['dpi-interface']}"}) as client:
        yield client


@pytest.mark.parametrize(("path", "what"), [("/hl7v2", "the message"), ("/hl7v2/$check", "the body")])
async def test_post_hl7v2_over_the_limit_gets_413(http: httpx.AsyncClient, dpi: DpiService, path: str, what: str
                                                  ) -> None:
    limit = dpi.settings.mllp_max_message_bytes
    expected = f"{what} exceeds {limit} bytes (ONCOLINK_MLLP_MAX_MESSAGE_BYTES)\n"
    declared = await http.post(path, content=b"M" * (limit + 1), headers={"Content-Type": ER7})
    assert (declared.status_code, declared.text) == (413, expected)

    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        """A chunked body that never ends: the route must stop pulling once past the limit."""
        nonlocal pulled
        while True:
            pulled += 1
            yield b"M" * 1024

    chunked = await http.post(path, content=endless(), headers={"Content-Type": ER7})
    assert (chunked.status_code, chunked.text) == (413, expected)
    assert pulled == limit // 1024 + 1
    at_limit = _a28("HTTP-1")
    at_limit += b"NTE|1||" + b"x" * (limit - len(at_limit) - 8) + b"\r"
    assert len(at_limit) == limit
    accepted = await http.post(path, content=at_limit, headers={"Content-Type": ER7})
    assert accepted.status_code == 200
    assert dpi.journal.count() == (1 if path == "/hl7v2" else 0)


# -- connections ----------------------------------------------------------------------------------

async def _served(port: int, control_id: str) -> MllpClient | None:
    """A connection that got an AA, or None when the listener closed it."""
    client = await MllpClient.connect(port)
    try:
        ack = await client.send(_a28(control_id), timeout=10)
    except (asyncio.IncompleteReadError, ConnectionError):
        await client.close()
        return None
    assert ack.code == "AA"
    return client


async def test_connections_beyond_the_limit_are_closed_and_the_open_ones_served(
        dpi: DpiService, caplog: pytest.LogCaptureFixture) -> None:
    port = dpi.mllp_port
    assert port is not None
    first, second = await _served(port, "C-1"), await _served(port, "C-2")
    assert first is not None and second is not None
    with caplog.at_level(logging.WARNING, logger="adapters.dpi.mllp"):
        refused = await MllpClient.connect(port)
        refused_port = refused.writer.get_extra_info("sockname")[1]
        assert await asyncio.wait_for(refused.reader.read(), 5) == b""  # closed unread
        await refused.close()
    assert [r.getMessage() for r in caplog.records] == [
        f"MLLP: refusing 127.0.0.1:{refused_port}: {MAX_CONNECTIONS} connections already open "
        "(ONCOLINK_MLLP_MAX_CONNECTIONS)"]
    # The open connections carry on.
    assert (await first.send(_a28("C-3"))).code == "AA"
    assert (await second.send(_a28("C-4"))).code == "AA"
    # A closed connection frees its place (once the listener has seen the close).
    await first.close()
    third = None
    for attempt in range(50):
        third = await _served(port, f"C-5-{attempt}")
        if third is not None:
            break
        await asyncio.sleep(0.05)
    assert third is not None
    for client in (second, third):
        with contextlib.suppress(ConnectionError):
            await client.close()
