"""Helpers for DPI tests: a real MLLP client, the sample messages, ACK reading."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.dpi.mllp import MllpSender
from adapters.fhir_client import FhirClient

MESSAGES = Path(__file__).parent / "messages"


def message(name: str) -> bytes:
    return (MESSAGES / name).read_bytes()


def with_control_id(raw: bytes, control_id: str) -> bytes:
    """The same message with another MSH-10 (a resend by a DPI that numbers every send)."""
    head, sep, rest = raw.partition(b"\r")
    fields = head.split(b"|")
    fields[9] = control_id.encode()
    return b"|".join(fields) + sep + rest


@dataclass
class Ack:
    raw: bytes
    segments: list[list[str]]

    @classmethod
    def parse(cls, raw: bytes, encoding: str = "iso-8859-1") -> Ack:
        text = raw.decode(encoding)
        return cls(raw, [s.split("|") for s in text.split("\r") if s])

    def segment(self, name: str, n: int = 1) -> list[str]:
        found = [s for s in self.segments if s[0] == name]
        return found[n - 1]

    @property
    def code(self) -> str:
        return self.segment("MSA")[1]

    @property
    def control_id(self) -> str:
        return self.segment("MSA")[2]

    @property
    def errors(self) -> list[list[str]]:
        return [s for s in self.segments if s[0] == "ERR"]

    def error_locations(self) -> list[str]:
        """ERR-2 of every ERR (v2.5 style), e.g. 'ORC^1^2'."""
        return [e[2] for e in self.errors]

    def error_codes(self) -> list[str]:
        return [e[3].split("^")[0] for e in self.errors]


class MllpClient(MllpSender):
    """A sender on one persistent connection, like a DPI interface engine; answers parsed ACKs."""

    @classmethod
    async def connect(cls, port: int, ssl_context: ssl.SSLContext | None = None) -> MllpClient:  # type: ignore[override]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ssl_context)
        return cls(reader, writer)

    async def read_ack(self, timeout: float = 30) -> bytes:
        return await self.read_answer(timeout)

    async def send(self, payload: bytes, timeout: float = 30) -> Ack:  # type: ignore[override]
        return Ack.parse(await super().send(payload, timeout))


async def search(fhir: FhirClient, res_type: str, **params: str) -> list[dict[str, Any]]:
    return [r async for r in fhir.search_all(res_type, params)]


async def count(fhir: FhirClient, res_type: str) -> int:
    return len(await search(fhir, res_type, _count="1000"))


def strip_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "meta"}
