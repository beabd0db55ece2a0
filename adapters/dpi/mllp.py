"""MLLP framing over asyncio streams: blocks in, blocks out; no HL7 meaning here.

A block is VT <payload> FS CR. Each connection is persistent and answered strictly in order: the next
block is read only after the handler's answer to the previous one is written, so a sender that
pipelines still gets its ACKs in sequence. Bytes outside blocks are skipped and counted, a block over
the size limit is drained without being kept (its first bytes are kept so the answer can name the
message), and a connection silent for longer than the idle timeout is closed. Beyond
`max_connections` open connections a new one is closed at once, unread, and logged: the ones already
open keep being served, and the sender sees a closed socket it will retry (ADR 0012). None of these
stop the listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["END_BLOCK", "START_BLOCK", "Frame", "FrameReader", "MllpSender", "MllpServer", "Peer", "frame"]

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\r"
HEAD_BYTES = 4096  # what is kept of an oversized block: enough for its MSH
READ_CHUNK = 65536

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Peer:
    host: str
    port: int
    tls: bool = False

    def __str__(self) -> str:
        return f"{self.host}:{self.port}{' (TLS)' if self.tls else ''}"


@dataclass(frozen=True)
class Frame:
    """One received block. `oversized` blocks hold only their first bytes; `skipped` counts bytes
    that arrived before the block outside any frame (a framing error of the sender)."""

    data: bytes
    oversized: bool = False
    size: int = 0
    skipped: int = 0


def frame(payload: bytes) -> bytes:
    return START_BLOCK + payload + END_BLOCK + CARRIAGE_RETURN


class FrameReader:
    """Cut a byte stream into frames; `limit` bounds the memory one connection may hold."""

    def __init__(self, reader: asyncio.StreamReader, limit: int, idle_timeout: float | None) -> None:
        self.reader = reader
        self.limit = limit
        self.idle_timeout = idle_timeout
        self.buffer = bytearray()
        self.eof = False
        self.expect_cr = False  # the CR that ends the previous block may arrive with the next read

    async def _fill(self) -> bool:
        if self.eof:
            return False
        if self.idle_timeout:
            chunk = await asyncio.wait_for(self.reader.read(READ_CHUNK), self.idle_timeout)
        else:
            chunk = await self.reader.read(READ_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buffer += chunk
        return True

    async def read(self) -> Frame | None:
        """The next frame, or None at end of stream (a partial block at EOF is dropped and logged)."""
        skipped = 0
        while True:
            if self.expect_cr and self.buffer:
                self.expect_cr = False
                if self.buffer[:1] == CARRIAGE_RETURN:
                    del self.buffer[:1]
            start = self.buffer.find(START_BLOCK)
            if start >= 0:
                skipped += start
                del self.buffer[:start + 1]
                break
            skipped += len(self.buffer)
            self.buffer.clear()
            if not await self._fill():
                if skipped:
                    log.warning("MLLP: %d bytes outside any block before end of stream", skipped)
                return None
        oversized = False
        head = b""
        size = 0
        scanned = 0
        while True:
            end = self.buffer.find(END_BLOCK, scanned)
            if end >= 0:
                break
            scanned = len(self.buffer)
            if not oversized and len(self.buffer) > self.limit:
                oversized = True
                head = bytes(self.buffer[:HEAD_BYTES])
            if oversized:
                size += len(self.buffer)
                self.buffer.clear()
                scanned = 0
            if not await self._fill():
                log.warning("MLLP: stream ended inside a block (%d bytes dropped)", size + len(self.buffer))
                return None
        payload = bytes(self.buffer[:end])
        del self.buffer[:end + 1]
        # FS must be followed by CR; tolerate its absence (the next VT starts the next block anyway).
        self.expect_cr = True
        if oversized:
            return Frame(head, oversized=True, size=size + len(payload), skipped=skipped)
        nested = payload.rfind(START_BLOCK)
        if nested >= 0:  # a new block started before the previous one ended: keep the last one
            skipped += nested + 1
            payload = payload[nested + 1:]
        if len(payload) > self.limit:
            return Frame(payload[:HEAD_BYTES], oversized=True, size=len(payload), skipped=skipped)
        return Frame(payload, size=len(payload), skipped=skipped)


Handler = Callable[[Frame, Peer], Awaitable[bytes | None]]


class MllpServer:
    """An asyncio TCP (optionally TLS) server calling `handler` for each frame, answers in order."""

    def __init__(self, handler: Handler, host: str, port: int, *, max_message_bytes: int = 1 << 20,
                 idle_timeout: float | None = 300.0, ssl_context: ssl.SSLContext | None = None,
                 max_connections: int = 200) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.ssl_context = ssl_context
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self.port, ssl=self.ssl_context,
                                                  reuse_address=True)
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        log.info("MLLP listening on %s:%d%s", self.host, self.port, " (TLS)" if self.ssl_context else "")

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 5)
        self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        address = writer.get_extra_info("peername") or ("?", 0)
        peer = Peer(str(address[0]), int(address[1]), self.ssl_context is not None)
        if len(self._connections) >= self.max_connections:
            log.warning("MLLP: refusing %s: %d connections already open (ONCOLINK_MLLP_MAX_CONNECTIONS)", peer,
                        len(self._connections))
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2)
            return
        self._connections.add(task)
        frames = FrameReader(reader, self.max_message_bytes, self.idle_timeout)
        try:
            while True:
                try:
                    block = await frames.read()
                except TimeoutError:
                    log.info("MLLP: closing %s after %.0f s without data", peer, self.idle_timeout or 0)
                    break
                if block is None:
                    break
                if block.skipped:
                    log.warning("MLLP: %d bytes from %s outside any block were skipped", block.skipped, peer)
                try:
                    answer = await self.handler(block, peer)
                except Exception:  # the handler must answer; never let one message kill the connection
                    log.exception("MLLP: handler failed for a message from %s", peer)
                    answer = None
                if answer is not None:
                    writer.write(frame(answer))
                    await writer.drain()
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            log.info("MLLP: connection from %s ended: %s", peer, exc)
        except asyncio.CancelledError:
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2)


class MllpSender:
    """The sending side of one persistent connection, as a DPI interface engine holds it: a block out, then
    its answer in, strictly in turn (the listener answers in order, so no correlation is needed here)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None,
                      timeout: float = 10.0) -> MllpSender:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=ssl_context), timeout)
        return cls(reader, writer)

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_answer(self, timeout: float = 30.0) -> bytes:
        """The payload of the next block received (an ACK); IncompleteReadError if the peer hangs up."""
        data = await asyncio.wait_for(self.reader.readuntil(END_BLOCK + CARRIAGE_RETURN), timeout)
        start = data.index(START_BLOCK)
        return data[start + 1:-2]

    async def send(self, payload: bytes, timeout: float = 30.0) -> bytes:
        await self.send_raw(frame(payload))
        return await self.read_answer(timeout)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()
