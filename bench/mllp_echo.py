"""The DPI benchmark's baseline: a bare MLLP listener answering a fixed ACK to every block (framing and
sockets only, no journal, no parsing, no FHIR). `python -m bench.mllp_echo PORT`."""

from __future__ import annotations

import asyncio
import sys

from adapters.dpi.mllp import Frame, MllpServer, Peer

ECHO_ACK = b"MSH|^~\\&|ONCOLINK||DPI||20250101000000||ACK^A01^ACK|1|P|2.5\rMSA|AA|1\r"


async def echo(port: int) -> None:
    async def handler(block: Frame, peer: Peer) -> bytes:
        return ECHO_ACK

    server = MllpServer(handler, "127.0.0.1", port)
    await server.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(echo(int(sys.argv[1])))
