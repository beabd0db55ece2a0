"""MLLP framing over real loopback sockets: persistent connections, order, bad framing, limits, TLS."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.dpi.mllp import Frame, MllpServer, Peer, frame
from tests.adapters.dpi.dpi_helpers import MllpClient


class Recorder:
    """A handler that answers each block with `ACK:<payload>` after an optional delay."""

    def __init__(self, delay: float = 0.0) -> None:
        self.frames: list[Frame] = []
        self.delay = delay

    async def __call__(self, block: Frame, peer: Peer) -> bytes:
        self.frames.append(block)
        if self.delay:
            await asyncio.sleep(self.delay)
        if block.oversized:
            return b"TOO-BIG:" + str(block.size).encode()
        return b"ACK:" + block.data


@pytest.fixture
async def echo() -> AsyncIterator[tuple[MllpServer, Recorder]]:
    recorder = Recorder()
    server = MllpServer(recorder, "127.0.0.1", 0, max_message_bytes=1000, idle_timeout=0.5)
    await server.start()
    yield server, recorder
    await server.stop()


async def test_persistent_connection_answers_in_order_even_when_pipelined(echo: tuple[MllpServer, Recorder]
                                                                          ) -> None:
    server, recorder = echo
    recorder.delay = 0.01
    client = await MllpClient.connect(server.port)
    await client.send_raw(b"".join(frame(f"MSG{i}".encode()) for i in range(20)))
    answers = [await client.read_ack() for _ in range(20)]
    await client.close()
    assert answers == [f"ACK:MSG{i}".encode() for i in range(20)]


async def test_many_concurrent_senders(echo: tuple[MllpServer, Recorder]) -> None:
    server, _ = echo

    async def sender(n: int) -> list[bytes]:
        client = await MllpClient.connect(server.port)
        got = []
        for i in range(25):
            await client.send_raw(frame(f"{n}-{i}".encode()))
            got.append(await client.read_ack())
        await client.close()
        return got

    results = await asyncio.gather(*(sender(n) for n in range(12)))
    for n, got in enumerate(results):
        assert got == [f"ACK:{n}-{i}".encode() for i in range(25)]


async def test_bytes_outside_blocks_are_skipped_and_the_connection_lives_on(echo: tuple[MllpServer, Recorder]
                                                                            ) -> None:
    server, recorder = echo
    client = await MllpClient.connect(server.port)
    await client.send_raw(b"garbage\r\n" + frame(b"ONE"))
    assert await client.read_ack() == b"ACK:ONE"
    # A block whose end never came, then a new block: the unfinished one is dropped.
    await client.send_raw(b"\x0bHALF-A-MESSAGE" + frame(b"TWO"))
    assert await client.read_ack() == b"ACK:TWO"
    # FS without the CR is tolerated.
    await client.send_raw(b"\x0bTHREE\x1c")
    assert await client.read_ack() == b"ACK:THREE"
    await client.send_raw(frame(b"FOUR"))
    assert await client.read_ack() == b"ACK:FOUR"
    await client.close()
    assert recorder.frames[0].skipped == len(b"garbage\r\n")
    assert recorder.frames[1].skipped == len(b"HALF-A-MESSAGE") + 1


async def test_oversized_block_is_drained_not_kept_and_next_message_is_served(echo: tuple[MllpServer, Recorder]
                                                                              ) -> None:
    server, recorder = echo
    client = await MllpClient.connect(server.port)
    big = b"MSH|" + b"X" * 200_000
    await client.send_raw(frame(big) + frame(b"SMALL"))
    assert await client.read_ack() == f"TOO-BIG:{len(big)}".encode()
    assert await client.read_ack() == b"ACK:SMALL"
    await client.close()
    assert recorder.frames[0].oversized and len(recorder.frames[0].data) <= 4096


async def test_idle_connections_are_closed(echo: tuple[MllpServer, Recorder]) -> None:
    server, _ = echo
    client = await MllpClient.connect(server.port)
    assert await asyncio.wait_for(client.reader.read(), 5) == b""  # closed by the server after 0.5 s
    await client.close()
    other = await MllpClient.connect(server.port)  # the listener itself goes on
    await other.send_raw(frame(b"AFTER"))
    assert await other.read_ack() == b"ACK:AFTER"
    await other.close()


async def test_a_failing_handler_does_not_kill_the_listener() -> None:
    calls = []

    async def handler(block: Frame, peer: Peer) -> bytes:
        calls.append(block.data)
        if block.data == b"BOOM":
            raise RuntimeError("bug")
        return b"OK"

    server = MllpServer(handler, "127.0.0.1", 0)
    await server.start()
    try:
        client = await MllpClient.connect(server.port)
        await client.send_raw(frame(b"BOOM") + frame(b"NEXT"))
        assert await client.read_ack() == b"OK"
        await client.close()
    finally:
        await server.stop()
    assert calls == [b"BOOM", b"NEXT"]


def _self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a test certificate")
async def test_tls(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    server = MllpServer(Recorder(), "127.0.0.1", 0, ssl_context=server_context)
    await server.start()
    try:
        client_context = ssl.create_default_context(cafile=str(cert))
        client = await MllpClient.connect(server.port, client_context)
        await client.send_raw(frame(b"SECRET"))
        assert await client.read_ack() == b"ACK:SECRET"
        await client.close()
        # A plain-text sender does not get through, and the listener survives it.
        plain = await MllpClient.connect(server.port)
        await plain.send_raw(frame(b"PLAIN"))
        assert await asyncio.wait_for(plain.reader.read(), 5) == b""
        await plain.close()
        again = await MllpClient.connect(server.port, client_context)
        await again.send_raw(frame(b"AGAIN"))
        assert await again.read_ack() == b"ACK:AGAIN"
        await again.close()
    finally:
        await server.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a test certificate")
async def test_tls_from_settings_with_client_certificates(tmp_path: Path) -> None:
    """ONCOLINK_MLLP_TLS_CERT/KEY, and ONCOLINK_MLLP_TLS_CLIENT_CA to require a sender certificate."""
    from adapters.dpi.service import tls_context
    from adapters.dpi.settings import DpiSettings

    cert, key = _self_signed(tmp_path)
    settings = DpiSettings(mllp_tls_cert=cert, mllp_tls_key=key, mllp_tls_client_ca=cert)
    server = MllpServer(Recorder(), "127.0.0.1", 0, ssl_context=tls_context(settings))
    await server.start()
    try:
        with_cert = ssl.create_default_context(cafile=str(cert))
        with_cert.load_cert_chain(cert, key)
        client = await MllpClient.connect(server.port, with_cert)
        await client.send_raw(frame(b"SIGNED"))
        assert await client.read_ack() == b"ACK:SIGNED"
        await client.close()
        without_cert = ssl.create_default_context(cafile=str(cert))
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            refused = await MllpClient.connect(server.port, without_cert)
            await refused.send_raw(frame(b"ANONYMOUS"))
            await refused.read_ack(timeout=5)
    finally:
        await server.stop()
    with pytest.raises(ValueError, match="go together"):
        DpiSettings(mllp_tls_cert=cert)
